//! The camp census: the file a camp administration exports from its
//! register, read strictly, so that the camp registry can announce each
//! family unit it holds with one `camp.resident.located` message.
//!
//! A census is the one large import in Homeward, and the one whose mistakes
//! would travel furthest: a wrong nationality routes a family to the wrong
//! state. So the parser accepts a file whole or not at all, reports every
//! problem with its line and column, and turns each value into a checked
//! type, so that what comes out of [`parse`] can only build messages the
//! schema accepts.
//!
//! # Layout
//! - [`value`]: the checked values of a row (references, country codes,
//!   camp location, names by script, partial dates, codes).
//! - [`family`]: [`Person`], [`FamilyUnit`] and its
//!   [`located_data`](FamilyUnit::located_data), [`Census`].
//! - [`format`](mod@format): the columns, [`parse`] and [`write()`].
//! - [`error`]: [`CensusError`] and the [`Problem`]s of a rejected file.
//!
//! # Use
//! ```
//! let text = "\
//! family_ref,person_ref,camp,section,block,tent,claimed_nationality,relationship_to_head,name_latn,name_cyrl,name_arab,aliases,sex,birth_date,birth_date_accuracy,birthplace_country,vulnerability
//! HOL-ANX-000045,HOL-ANX-000045-01,al-Hol,annex,3,,KZ,head,Ibrahim,,إبراهيم,,male,2010,estimated,,unaccompanied;orphan
//! ";
//! let census = homeward_census::parse(text.as_bytes())?;
//! let data = census.families[0].located_data();
//! assert_eq!(data["familyUnit"]["head"], "HOL-ANX-000045-01");
//! assert_eq!(homeward_census::write(&census.families), text);
//! # Ok::<(), homeward_census::CensusError>(())
//! ```
//!
#![doc = include_str!("../FORMAT.md")]

pub mod error;
pub mod family;
pub mod format;
pub mod value;

pub use error::{CensusError, Problem};
pub use family::{Census, FamilyUnit, Person};
pub use format::{Column, parse, write, write_to};
pub use value::{
    BirthDate, CampLocation, CaseRef, CountryCode, DateAccuracy, Name, PartialDate, PersonNames,
    PersonRef, Relationship, Script, Sex, Vulnerability,
};

/// A rejected census lists at most this many problems (and counts them all).
pub const MAX_PROBLEMS: usize = 100;

/// The message type whose `data` [`FamilyUnit::located_data`] builds.
pub const LOCATED_TYPE: &str = "camp.resident.located";

/// The `$id` of the data schema [`FamilyUnit::located_data`] conforms to.
pub const LOCATED_SCHEMA: &str =
    "https://schemas.homeward.example/messages/camp.resident.located/v1.json";
