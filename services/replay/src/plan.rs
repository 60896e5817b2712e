//! The scenario's population as the replay needs it: census files for the
//! camp administration and one plan per family.

use homeward_scenario::population::{Population, Screening};

use crate::replay::{FamilyPlan, PersonPlan};

/// The camp administration holding every family of the scenario.
pub const CAMP_AUTHORITY: &str = "aanes.camps";

/// The date the census is as of. Who counts as a child is decided on this
/// date by every service; the scenario's figures count children on the
/// same day (`homeward_scenario::population::AGE_REFERENCE`).
pub const REGISTERED_ON: &str = "2019-05-01";

/// The census, as (camp administration, command with its parameters, CSV).
pub fn census(population: &Population) -> Vec<(String, Vec<u8>)> {
    vec![(
        CAMP_AUTHORITY.to_owned(),
        population.census_csv().into_bytes(),
    )]
}

/// One plan per family.
pub fn plans(population: &Population) -> Vec<FamilyPlan> {
    population
        .families
        .iter()
        .map(|f| FamilyPlan {
            case_ref: f.family_ref.as_str().to_owned(),
            nationality: f.nationality.as_str().to_owned(),
            camp_authority: CAMP_AUTHORITY.to_owned(),
            operation_id: f.operation_id.clone(),
            round: u32::from(f.round),
            carrier: f.transit_carrier.as_ref().map(|c| c.as_str().to_owned()),
            persons: f
                .persons
                .iter()
                .map(|r| PersonPlan {
                    person_ref: r.person_ref().as_str().to_owned(),
                    child: r.child,
                    female: r.is_woman() || (r.child && r.record.sex.as_str() == "female"),
                    detained: r.screening == Screening::Detained,
                    needs_passport: r.needs_passport,
                })
                .collect(),
        })
        .collect()
}
