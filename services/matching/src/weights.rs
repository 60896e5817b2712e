//! The Fellegi–Sunter weights, one per field and agreement level, in bits.
//!
//! For every comparison the weight is `log2(m / u)`: `m` is how often the
//! level is seen when the camp record and the registry record are the same
//! person, `u` how often between two different people. The total of the
//! weights is the candidate's score; every weight goes out as a reason.
//!
//! - Names: `u` of an exact or phonetic agreement is the share of registry
//!   records that have that very token (term-frequency adjustment, as in
//!   Splink): agreeing on "Amina" says less than agreeing on a rare stem.
//!   The other levels have a fixed `u`.
//! - Dates: `u` is the share of a 60-year span the level covers; `m`
//!   depends on how the camp knew the date, so that a year-only estimate a
//!   year off costs little and a documented date a year off costs much.
//! - Family: `u` is the chance that a stranger's registry relatives happen
//!   to be among the candidates of the unit's other members.
//!
//! The `m` values are set from how camps record people (the degradations
//! `crate::synthetic` reproduces), not fitted to a sample; the
//! measured quality is in BENCHMARKS.md ("Matching").

use crate::date::{DateKind, DateLevel};
use crate::name::NameLevel;

fn bits(m: f64, u: f64) -> f64 {
    (m / u).log2()
}

/// `m` of each name level when the registry token is the right one.
const NAME_M: [(NameLevel, f64); 5] = [
    (NameLevel::Exact, 0.55),
    (NameLevel::Phonetic, 0.25),
    (NameLevel::Close, 0.08),
    (NameLevel::Fuzzy, 0.07),
    (NameLevel::Disagree, 0.05),
];

fn name_m(level: NameLevel) -> f64 {
    NAME_M
        .iter()
        .find(|(l, _)| *l == level)
        .map_or(0.05, |(_, m)| *m)
}

/// The weight of a given or family name at `level`; `frequency` is the
/// share of registry records with that token (for exact agreement) or that
/// phonetic key (for phonetic agreement).
pub fn name(level: NameLevel, frequency: f64) -> f64 {
    match level {
        // Agreeing on a name nearly everyone has is no evidence, but it
        // never weighs against.
        NameLevel::Exact | NameLevel::Phonetic => bits(name_m(level), frequency.max(1e-5)).max(0.0),
        NameLevel::Close => bits(name_m(level), 0.01),
        NameLevel::Fuzzy => bits(name_m(level), 0.04),
        NameLevel::Disagree => bits(name_m(level), 0.9),
    }
}

/// A camp token that agrees with the registry's patronymic: camps rarely
/// record one, so only agreement counts.
pub fn patronymic(level: NameLevel) -> f64 {
    match level {
        NameLevel::Exact | NameLevel::Phonetic => bits(0.3, 0.01),
        NameLevel::Close => bits(0.1, 0.02),
        _ => 0.0,
    }
}

/// Sex agrees or not; unknown weighs nothing.
pub fn sex(agrees: bool) -> f64 {
    if agrees {
        bits(0.97, 0.5)
    } else {
        bits(0.03, 0.5)
    }
}

/// Days in the span `u` of a date level is taken over.
const SPAN: f64 = 60.0 * 365.25;

pub fn date(kind: DateKind, level: DateLevel) -> f64 {
    use DateLevel as L;
    let u = match level {
        L::Within => match kind {
            DateKind::ExactDay | DateKind::ApproximateDay => 1.0 / SPAN,
            DateKind::Month => 30.0 / SPAN,
            DateKind::Year | DateKind::EstimatedYear => 365.0 / SPAN,
        },
        L::Days => 62.0 / SPAN,
        L::SameYear => 300.0 / SPAN,
        L::OneYear | L::TwoYears | L::ThreeYears => 730.0 / SPAN,
        L::Further => 0.85,
    };
    // m of each level: Within, Days, SameYear, OneYear, TwoYears,
    // ThreeYears, Further.
    let m: [f64; 7] = match kind {
        DateKind::ExactDay => [0.88, 0.05, 0.005, 0.01, 0.005, 0.005, 0.005],
        DateKind::ApproximateDay => [0.55, 0.2, 0.1, 0.1, 0.03, 0.01, 0.01],
        DateKind::Month => [0.7, 0.1, 0.08, 0.08, 0.02, 0.01, 0.01],
        DateKind::Year => [0.7, 0.0, 0.0, 0.25, 0.03, 0.01, 0.01],
        DateKind::EstimatedYear => [0.45, 0.0, 0.0, 0.4, 0.1, 0.03, 0.02],
    };
    let index = match level {
        L::Within => 0,
        L::Days => 1,
        L::SameYear => 2,
        L::OneYear => 3,
        L::TwoYears => 4,
        L::ThreeYears => 5,
        L::Further => 6,
    };
    bits(m[index].max(0.001), u)
}

/// How many other members of the unit are found among this record's
/// registry relatives, as the unit says they are related.
pub fn family(linked: usize) -> f64 {
    match linked {
        0 => 0.0,
        1 => bits(0.5, 0.005),
        // Each further relative who matches is more evidence, up to five.
        n => bits(0.4, 0.0005) + 2.0 * (n.min(5) - 2) as f64,
    }
}

/// A kunya ("Umm Yusuf") whose child's name is the name of one of this
/// record's children in the registry.
pub fn kunya() -> f64 {
    bits(0.6, 0.03)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wrong_exact_date_weighs_against_and_a_wrong_estimate_barely() {
        assert!(date(DateKind::ExactDay, DateLevel::OneYear) < -1.0);
        assert!(date(DateKind::ExactDay, DateLevel::SameYear) < -1.0);
        assert!(date(DateKind::ExactDay, DateLevel::Further) < -5.0);
        assert!(date(DateKind::EstimatedYear, DateLevel::OneYear) > 1.0);
        assert!(
            date(DateKind::ExactDay, DateLevel::Within) > date(DateKind::Year, DateLevel::Within)
        );
    }

    #[test]
    fn common_names_weigh_less_than_rare_ones() {
        assert!(name(NameLevel::Exact, 0.05) < name(NameLevel::Exact, 0.0005));
        assert!(name(NameLevel::Disagree, 0.0) < 0.0);
        assert_eq!(name(NameLevel::Exact, 1.0), 0.0);
    }
}
