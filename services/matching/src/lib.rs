//! Who is this person? Ranked candidates from a state's civil registry
//! extract for each member of a family unit a camp has located.
//!
//! Camps write names as they hear them: in Arabic script, in a
//! transliteration of their own, as a kunya ("Umm Yusuf") only, with a
//! year of birth or a guess. A state's civil registry holds the official
//! Cyrillic and Latin spellings and exact dates. This crate lines the two
//! up for the state's security service, the way governments link records:
//! Fellegi–Sunter match weights, as in the UK Ministry of Justice's
//! Splink, with the weight of every field explained, and across scripts.
//!
//! # It never decides
//!
//! The matcher returns, for each located person, at most
//! [`CANDIDATES`] registry records with a score (the sum of the field
//! weights, in bits) and the reasons, field by field. There is no
//! "verified", "match" or "same person" output, no threshold that turns a
//! score into an outcome, and no type that could carry one: whether a
//! candidate is the person is an official's decision, recorded through the
//! security service's verification action. The score threshold measured in
//! BENCHMARKS.md ("Matching") says how far down a list an official should
//! look, not what to decide.
//!
//! Candidates and reasons hold registry data (names, years). They stay on
//! the state's site: never put them in a message, a log or a metric.
//!
//! # Use
//!
//! ```
//! use homeward_matching::{Matcher, OfficialName, RegistryRecord, RegistrySex};
//!
//! let record = RegistryRecord {
//!     record_id: "KZ-0001".into(),
//!     names: vec![OfficialName {
//!         given: "Гүлнар".into(),
//!         family: "Садықбекова".into(),
//!         patronymic: None,
//!     }],
//!     sex: RegistrySex::Female,
//!     birth_date: "1991-03-02".into(),
//!     mother: None,
//!     father: None,
//! };
//! let matcher = Matcher::new(vec![record]).expect("a valid extract");
//! let located = serde_json::json!({
//!     "caseRef": "HOL-P5-000123",
//!     "familyUnit": {"familyRef": "HOL-P5-000123", "head": "HOL-P5-000123-01", "members": [{
//!         "personRef": "HOL-P5-000123-01",
//!         "names": [{"value": "جولنار صادقبيكوفا", "script": "Arab", "kind": "as-recorded"}],
//!         "sex": "female",
//!         "birthDate": {"value": "1991", "accuracy": "approximate"},
//!         "relationshipToHead": "head"
//!     }]}
//! });
//! let people = matcher.candidates(&located).expect("readable located data");
//! assert_eq!(people[0].candidates[0].record_id, "KZ-0001");
//! ```
//!
//! # Layout
//! - [`script`]: every script into one broad Latin, with the Kazakh,
//!   Uzbek, Tajik, Kyrgyz and Turkmen letters; kunyas; family-name endings.
//! - [`name`]: the comparison form, the phonetic key, agreement levels.
//! - [`date`]: camp dates with their accuracy against registry days.
//! - [`weights`]: the m/u weights of every field and level.
//! - `registry`: the extract's format and the blocking index.
//! - `located`: reading the unit from `camp.resident.located`.
//! - `matcher`: blocking, comparison, the family as evidence, ranking.
//! - `synthetic` (feature `synthetic`): registry extracts and degraded
//!   camp records made from the scenario population, and the measurement
//!   of recall and precision on them (the quality test, the bench).
//!
//! # Dependencies
//! - `unicode-normalization`: NFC before transliteration, so that a letter
//!   written with a combining mark (и + ˘) is the letter (й); NFD to strip
//!   Latin diacritics the tables do not name.
//! - `strsim`: Jaro-Winkler for the close and fuzzy levels (already in the
//!   build through clap).
//!
//! Transliteration and phonetic keys are our own: the crates that exist
//! (e.g. `deunicode`, `rphonetic`) follow Russian or English conventions,
//! and lose the Kazakh and Uzbek letters or the Arabic-script consonants
//! this comparison needs.

pub mod date;
mod located;
mod matcher;
pub mod name;
mod registry;
pub mod script;
#[cfg(feature = "synthetic")]
pub mod synthetic;
pub mod weights;

use serde::Serialize;

pub use located::LocatedFamily;
pub use matcher::{CANDIDATES, MIN_SCORE, Session};
pub use registry::{OfficialName, RegistryRecord, RegistrySex};

/// Why a registry extract or a located unit could not be read.
#[derive(Debug, thiserror::Error)]
pub enum MatchError {
    /// Record `record` (0-based) of the extract; no value is repeated.
    #[error("registry record {record}: {problem}")]
    Registry { record: usize, problem: String },
    /// The located data at `path`; no value is repeated.
    #[error("located data at {path}: {problem}")]
    Located { path: String, problem: String },
    /// Line `line` (1-based) of an extract in JSON lines; no value is
    /// repeated.
    #[error("registry extract line {line}: {problem}")]
    Line { line: usize, problem: String },
    /// The extract could not be read at all.
    #[error("registry extract: {0}")]
    Read(#[source] std::io::Error),
}

/// The matcher over one state's registry extract.
#[derive(Debug)]
pub struct Matcher {
    index: registry::Index,
}

impl Matcher {
    /// Indexes the extract; a record with an unreadable date, an empty name
    /// or a parent not in the extract is refused, by position.
    pub fn new(extract: Vec<RegistryRecord>) -> Result<Self, MatchError> {
        Ok(Self {
            index: registry::Index::build(extract)?,
        })
    }

    /// Indexes an extract in JSON lines: one [`RegistryRecord`] per line,
    /// in its JSON form (`recordId`, `names` with `given`, `family` and
    /// `patronymic`, `sex`, `birthDate`, `mother`, `father`); blank lines
    /// are skipped. A line that is not a record, or a record refused by
    /// [`Matcher::new`], is named by its line number
    /// ([`MatchError::Line`]), without repeating what it holds.
    pub fn from_json_lines(reader: impl std::io::BufRead) -> Result<Self, MatchError> {
        let (extract, lines) = registry::read_json_lines(reader)?;
        Self::new(extract).map_err(|e| match e {
            MatchError::Registry { record, problem } => MatchError::Line {
                line: lines[record],
                problem,
            },
            other => other,
        })
    }

    /// How many records the extract holds.
    pub fn len(&self) -> usize {
        self.index.persons.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.persons.is_empty()
    }

    /// Ranked candidates for every member of the unit in the `data` of a
    /// `camp.resident.located` message, in the unit's order. For many
    /// units, a [`Session`] per thread keeps what it learns of spellings.
    pub fn candidates(
        &self,
        located: &serde_json::Value,
    ) -> Result<Vec<PersonCandidates>, MatchError> {
        Session::new(self).candidates(located)
    }

    pub fn session(&self) -> Session<'_> {
        Session::new(self)
    }
}

/// The candidates for one located person, best first. Possibly none.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PersonCandidates {
    pub person_ref: String,
    pub candidates: Vec<Candidate>,
}

/// One registry record that may be the person: a score and its reasons.
/// Not a decision.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Candidate {
    pub record_id: String,
    /// The sum of the reasons' weights, in bits: each bit doubles the odds
    /// that the record is the person rather than a stranger.
    pub score: f64,
    pub reasons: Vec<Reason>,
}

/// One field's contribution to a score.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Reason {
    pub field: Field,
    /// The agreement level, e.g. `exact`, `phonetic`, `one-year`.
    pub level: String,
    /// `log2(m/u)` of that level, in bits; negative weighs against.
    pub weight: f64,
    /// What was compared, for the official.
    pub detail: String,
}

/// The fields a score is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Field {
    GivenName,
    FamilyName,
    Patronymic,
    NameOrder,
    Sex,
    BirthDate,
    Family,
    Kunya,
}
