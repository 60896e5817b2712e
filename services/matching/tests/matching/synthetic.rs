//! The synthetic data the quality figures are measured on: what the issue
//! asks of it, checked, so that the figures mean what BENCHMARKS.md says.

use std::collections::HashMap;

use homeward_matching::RegistryRecord;
use homeward_matching::synthetic::{self, Degradation, Plan, SyntheticState};
use homeward_scenario::population::Population;
use serde_json::Value;

fn generate(seed: u64, camp_people: usize) -> (Population, SyntheticState) {
    let population = Population::generate(seed);
    let data = synthetic::generate(
        &population,
        &Plan {
            nationality: "KZ",
            seed,
            extract_records: 5_000,
            camp_people,
        },
    );
    (population, data)
}

/// Every camp person's located data, by person reference.
fn located_people(data: &SyntheticState) -> HashMap<String, Value> {
    data.units
        .iter()
        .flat_map(|u| {
            u.located
                .pointer("/familyUnit/members")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|m| Some((m.get("personRef")?.as_str()?.to_owned(), m)))
        .collect()
}

#[test]
fn the_same_seed_gives_the_same_extract_and_census() {
    let (_, a) = generate(3, 2_000);
    let (_, b) = generate(3, 2_000);
    let (_, c) = generate(4, 2_000);
    assert_eq!(a.extract, b.extract);
    let located = |d: &SyntheticState| {
        d.units
            .iter()
            .map(|u| u.located.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(located(&a), located(&b));
    assert_ne!(a.extract, c.extract);
    assert!(a.extract.len() >= 5_000 && a.camp_people() >= 2_000);
}

#[test]
fn every_scenario_person_is_in_the_extract_under_the_official_spelling() {
    let (population, data) = generate(5, 0);
    let records: HashMap<&str, &RegistryRecord> = data
        .extract
        .iter()
        .map(|r| (r.record_id.as_str(), r))
        .collect();
    let truth: HashMap<&str, &str> = data
        .units
        .iter()
        .flat_map(|u| &u.persons)
        .map(|p| (p.person_ref.as_str(), p.record_id.as_str()))
        .collect();
    let mut people = 0;
    for (family, returnee) in population.returnees() {
        if family.nationality.as_str() != "KZ" {
            continue;
        }
        people += 1;
        let person_ref = returnee.person_ref().as_str();
        let record = truth
            .get(person_ref)
            .and_then(|id| records.get(id))
            .unwrap_or_else(|| panic!("{person_ref} has a registry record"));
        let official = record
            .names
            .iter()
            .map(|n| format!("{} {}", n.given, n.family))
            .collect::<Vec<_>>();
        let names = &returnee.record.names;
        for recorded in [names.latin(), names.cyrillic()].into_iter().flatten() {
            assert!(
                official.contains(&recorded.as_str().to_owned()),
                "{person_ref}: {official:?} lacks {recorded}"
            );
        }
        // Decoys: someone else of the same surname.
        let surname = &record.names[1].family;
        let stem = surname.trim_end_matches('a');
        assert!(
            data.extract.iter().any(|r| r.record_id != record.record_id
                && r.names[1].family.trim_end_matches('a') == stem),
            "{person_ref}: nobody else is a {surname}"
        );
    }
    assert_eq!(people, data.camp_people());
    assert!(people > 500);
}

#[test]
fn each_camp_record_is_degraded_as_its_kind_says() {
    let (_, data) = generate(6, 3_000);
    let mut seen: HashMap<Degradation, usize> = HashMap::new();
    let records: HashMap<&str, &RegistryRecord> = data
        .extract
        .iter()
        .map(|r| (r.record_id.as_str(), r))
        .collect();
    let people = located_people(&data);
    for person in data.units.iter().flat_map(|u| &u.persons) {
        *seen.entry(person.degradation).or_default() += 1;
        let located = &people[&person.person_ref];
        let record = records[person.record_id.as_str()];
        let official = &record.names[1];
        let recorded: Vec<(&str, &str)> = located["names"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|n| n["kind"] == "as-recorded")
            .map(|n| {
                (
                    n["value"].as_str().unwrap_or(""),
                    n["script"].as_str().unwrap_or(""),
                )
            })
            .collect();
        assert_eq!(recorded.len(), 1, "{located}");
        let (value, script) = recorded[0];
        let date = located["birthDate"]["value"].as_str().unwrap_or("");
        match person.degradation {
            Degradation::ArabicOnly => assert_eq!(script, "Arab", "{located}"),
            Degradation::AliasOnly => assert!(
                value.starts_with("Umm ") || value.starts_with("Abu "),
                "{located}"
            ),
            Degradation::YearOnly => {
                assert_eq!(date.len(), 4, "{located}");
                assert_eq!(located["birthDate"]["accuracy"], "estimated");
                let year: i32 = date.parse().unwrap_or(0);
                let registry: i32 = record.birth_date[..4].parse().unwrap_or(0);
                assert!(
                    (year - registry).abs() <= 1,
                    "{located} against {}",
                    record.birth_date
                );
            }
            Degradation::Transliteration => {
                assert_eq!(script, "Latn");
                assert_ne!(
                    value,
                    format!("{} {}", official.given, official.family),
                    "{located}"
                );
            }
            Degradation::SwappedOrder => {
                let first = value.split(' ').next().unwrap_or("");
                assert!(record.names.iter().any(|n| n.family == first), "{located}");
            }
        }
    }
    for kind in Degradation::ALL {
        assert!(seen.get(&kind).copied().unwrap_or(0) >= 100, "{seen:?}");
    }
}
