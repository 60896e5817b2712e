//! The checked values of a census row.
//!
//! Each type here can only be built through a constructor that checks it,
//! so a value that exists is one the `camp.resident.located` schema accepts
//! (and often a stricter one: a country code must be assigned, a date must
//! exist on the calendar, a name must be in the script its column says).
//! Error messages repeat codes and dates, which help whoever fixes the file,
//! but never a name: names are personal data and the message may travel
//! further than the file.

use std::fmt;

use crate::CensusError;

fn invalid(message: impl Into<String>) -> CensusError {
    CensusError::InvalidValue(message.into())
}

/// A value as it may be repeated in an error message: at most 40 characters.
fn shown(value: &str) -> String {
    let mut out: String = value.chars().take(40).collect();
    if out.len() < value.len() {
        out.push('…');
    }
    format!("{out:?}")
}

/// `^[A-Z]{2,8}(-[A-Z0-9]{1,12}){1,4}$`, the syntax of case and person
/// references.
fn is_reference(value: &str) -> bool {
    let mut parts = value.split('-');
    let prefix_ok = parts
        .next()
        .is_some_and(|p| (2..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_uppercase()));
    let mut segments = 0;
    for segment in parts {
        segments += 1;
        if !(1..=12).contains(&segment.len())
            || !segment
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        {
            return false;
        }
    }
    prefix_ok && (1..=4).contains(&segments)
}

const REFERENCE_RULE: &str = "2 to 8 capital letters, then 1 to 4 hyphen-separated segments of \
                              1 to 12 capital letters or digits";

/// The case reference of one family unit (`HOL-P5-000123`), assigned by the
/// camp administration; every message about the unit carries it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CaseRef(String);

impl CaseRef {
    pub fn parse(value: &str) -> Result<Self, CensusError> {
        if is_reference(value) {
            Ok(Self(value.to_owned()))
        } else {
            Err(invalid(format!(
                "{} is not a case reference: expected {REFERENCE_RULE} (e.g. HOL-P5-000123)",
                shown(value)
            )))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CaseRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.0)
    }
}

/// The reference of one person, unique across Homeward; by convention the
/// family unit's case reference and a two-digit member number
/// (`HOL-P5-000123-03`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PersonRef(String);

impl PersonRef {
    pub fn parse(value: &str) -> Result<Self, CensusError> {
        if is_reference(value) {
            Ok(Self(value.to_owned()))
        } else {
            Err(invalid(format!(
                "{} is not a person reference: expected {REFERENCE_RULE} (e.g. HOL-P5-000123-03)",
                shown(value)
            )))
        }
    }

    /// The conventional reference of member `number` (from 1) of a unit.
    pub fn member_of(family: &CaseRef, number: u8) -> Result<Self, CensusError> {
        Self::parse(&format!("{family}-{number:02}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PersonRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.0)
    }
}

/// Every officially assigned ISO 3166-1 alpha-2 code, and `XK` (Kosovo),
/// which the EU and the ICRC use although ISO has not assigned it.
const COUNTRY_CODES: &str = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ \
    BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ \
    CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ \
    DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR \
    GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY \
    HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP \
    KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY \
    MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ \
    NA NC NE NF NG NI NL NO NP NR NU NZ OM \
    PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW \
    SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ \
    TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ \
    VA VC VE VG VI VN VU WF WS XK YE YT ZA ZM ZW";

/// A country: an assigned ISO 3166-1 alpha-2 code in upper case (`KZ`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CountryCode([u8; 2]);

impl CountryCode {
    pub fn parse(value: &str) -> Result<Self, CensusError> {
        let bytes = value.as_bytes();
        if bytes.len() != 2 || !bytes.iter().all(u8::is_ascii_uppercase) {
            return Err(invalid(format!(
                "{} is not a country code: expected two upper-case letters (ISO 3166-1 alpha-2, e.g. KZ)",
                shown(value)
            )));
        }
        if !COUNTRY_CODES.split_ascii_whitespace().any(|c| c == value) {
            return Err(invalid(format!(
                "{value:?} is not an assigned ISO 3166-1 alpha-2 country code"
            )));
        }
        Ok(Self([bytes[0], bytes[1]]))
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII upper-case letters are ever stored.
        std::str::from_utf8(&self.0).unwrap_or("??")
    }
}

impl fmt::Display for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// Checks a short label (camp, section, block, tent): trimmed, no control
/// characters, a length in characters within bounds.
pub(crate) fn check_label(
    what: &str,
    value: &str,
    min: usize,
    max: usize,
) -> Result<String, CensusError> {
    let length = value.chars().count();
    if value.trim() != value {
        return Err(invalid(format!("{what} has leading or trailing spaces")));
    }
    if value.chars().any(char::is_control) {
        return Err(invalid(format!("{what} contains a control character")));
    }
    if length < min || length > max {
        return Err(invalid(format!(
            "{what} {} has {length} characters; expected {min} to {max}",
            shown(value)
        )));
    }
    Ok(value.to_owned())
}

/// Where a family unit lives: camp, and where known section, block and tent.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CampLocation {
    camp: String,
    section: Option<String>,
    block: Option<String>,
    tent: Option<String>,
}

impl CampLocation {
    /// Checks each part: the camp 2 to 80 characters (`al-Hol`, `Roj` or
    /// another facility's usual Latin-script name), the section 1 to 40,
    /// block and tent 1 to 20.
    pub fn new(
        camp: &str,
        section: Option<&str>,
        block: Option<&str>,
        tent: Option<&str>,
    ) -> Result<Self, CensusError> {
        Ok(Self {
            camp: Self::check_camp(camp)?,
            section: section.map(Self::check_section).transpose()?,
            block: block.map(Self::check_block).transpose()?,
            tent: tent.map(Self::check_tent).transpose()?,
        })
    }

    pub(crate) fn check_camp(value: &str) -> Result<String, CensusError> {
        check_label("camp", value, 2, 80)
    }

    pub(crate) fn check_section(value: &str) -> Result<String, CensusError> {
        check_label("section", value, 1, 40)
    }

    pub(crate) fn check_block(value: &str) -> Result<String, CensusError> {
        check_label("block", value, 1, 20)
    }

    pub(crate) fn check_tent(value: &str) -> Result<String, CensusError> {
        check_label("tent", value, 1, 20)
    }

    pub fn camp(&self) -> &str {
        &self.camp
    }

    pub fn section(&self) -> Option<&str> {
        self.section.as_deref()
    }

    pub fn block(&self) -> Option<&str> {
        self.block.as_deref()
    }

    pub fn tent(&self) -> Option<&str> {
        self.tent.as_deref()
    }
}

/// Defines a closed set of lower-case codes with `parse`, `as_str`, `ALL`.
macro_rules! code_enum {
    (
        $(#[$meta:meta])*
        $name:ident, $what:literal {
            $($(#[$vmeta:meta])* $variant:ident => $code:literal,)+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// Every value, in the schema's order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The code as the census and the schema write it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $code,)+
                }
            }

            pub fn parse(value: &str) -> Result<Self, CensusError> {
                match value {
                    $($code => Ok($name::$variant),)+
                    _ => Err(invalid(format!(
                        "unknown {} {}; expected one of {}",
                        $what,
                        shown(value),
                        [$($code),+].join(", ")
                    ))),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.pad(self.as_str())
            }
        }
    };
}

code_enum! {
    /// Sex as recorded.
    Sex, "sex" {
        Female => "female",
        Male => "male",
        Unknown => "unknown",
    }
}

code_enum! {
    /// Relationship to the head of the family unit, as the camp records it.
    Relationship, "relationship to head" {
        Head => "head",
        Spouse => "spouse",
        Child => "child",
        Stepchild => "stepchild",
        Grandchild => "grandchild",
        Sibling => "sibling",
        NieceOrNephew => "niece-or-nephew",
        OtherRelative => "other-relative",
        Unrelated => "unrelated",
        Unknown => "unknown",
    }
}

code_enum! {
    /// How a birth date is known.
    DateAccuracy, "birth date accuracy" {
        /// From a document.
        Exact => "exact",
        /// Declared by the person or a relative.
        Approximate => "approximate",
        /// Derived from an age or from appearance.
        Estimated => "estimated",
    }
}

code_enum! {
    /// A vulnerability flag (flags only, never a diagnosis).
    Vulnerability, "vulnerability flag" {
        /// A child with no adult caring for them.
        Unaccompanied => "unaccompanied",
        /// A child apart from both parents but with another adult.
        Separated => "separated",
        /// Both parents are known to be dead.
        Orphan => "orphan",
        Medical => "medical",
        Disability => "disability",
        Pregnant => "pregnant",
    }
}

/// Years a birth date may have: nobody in a camp was born before 1900, and a
/// later year than 2099 is a typing error.
const YEARS: std::ops::RangeInclusive<u16> = 1900..=2099;

fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400) => {
            29
        }
        2 => 28,
        _ => 31,
    }
}

/// A calendar date known to the year, the month or the day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PartialDate {
    year: u16,
    month: Option<u8>,
    day: Option<u8>,
}

impl PartialDate {
    /// A date known to the year.
    pub fn year(year: u16) -> Result<Self, CensusError> {
        if !YEARS.contains(&year) {
            return Err(invalid(format!(
                "year {year} is out of range; expected {} to {}",
                YEARS.start(),
                YEARS.end()
            )));
        }
        Ok(Self {
            year,
            month: None,
            day: None,
        })
    }

    /// A date known to the month.
    pub fn year_month(year: u16, month: u8) -> Result<Self, CensusError> {
        let mut date = Self::year(year)?;
        if !(1..=12).contains(&month) {
            return Err(invalid(format!("month {month} is not 1 to 12")));
        }
        date.month = Some(month);
        Ok(date)
    }

    /// A date known to the day; it must exist on the calendar.
    pub fn full(year: u16, month: u8, day: u8) -> Result<Self, CensusError> {
        let mut date = Self::year_month(year, month)?;
        if day == 0 || day > days_in_month(year, month) {
            return Err(invalid(format!(
                "{year:04}-{month:02}-{day:02} is not a date on the calendar"
            )));
        }
        date.day = Some(day);
        Ok(date)
    }

    /// Reads `YYYY`, `YYYY-MM` or `YYYY-MM-DD`.
    pub fn parse(value: &str) -> Result<Self, CensusError> {
        let malformed = || {
            invalid(format!(
                "{} is not a date: expected YYYY, YYYY-MM or YYYY-MM-DD",
                shown(value)
            ))
        };
        let number = |part: &str, digits: usize| -> Result<u16, CensusError> {
            if part.len() == digits && part.bytes().all(|b| b.is_ascii_digit()) {
                part.parse().map_err(|_| malformed())
            } else {
                Err(malformed())
            }
        };
        let parts: Vec<&str> = value.split('-').collect();
        match parts.as_slice() {
            [y] => Self::year(number(y, 4)?),
            [y, m] => Self::year_month(number(y, 4)?, number(m, 2)? as u8),
            [y, m, d] => Self::full(number(y, 4)?, number(m, 2)? as u8, number(d, 2)? as u8),
            _ => Err(malformed()),
        }
    }

    pub fn year_value(&self) -> u16 {
        self.year
    }

    pub fn month(&self) -> Option<u8> {
        self.month
    }

    pub fn day(&self) -> Option<u8> {
        self.day
    }

    /// The first day the date may stand for, as (year, month, day).
    pub fn earliest(&self) -> (u16, u8, u8) {
        (self.year, self.month.unwrap_or(1), self.day.unwrap_or(1))
    }

    /// The last day the date may stand for, as (year, month, day).
    pub fn latest(&self) -> (u16, u8, u8) {
        let month = self.month.unwrap_or(12);
        (
            self.year,
            month,
            self.day.unwrap_or_else(|| days_in_month(self.year, month)),
        )
    }
}

impl fmt::Display for PartialDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.month, self.day) {
            (Some(m), Some(d)) => write!(f, "{:04}-{m:02}-{d:02}", self.year),
            (Some(m), None) => write!(f, "{:04}-{m:02}", self.year),
            _ => write!(f, "{:04}", self.year),
        }
    }
}

/// A birth date with how it is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BirthDate {
    pub date: PartialDate,
    pub accuracy: DateAccuracy,
}

/// ISO 15924 code of a script a name is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Script {
    Latin,
    Cyrillic,
    Arabic,
}

impl Script {
    /// The ISO 15924 code (`Latn`, `Cyrl`, `Arab`).
    pub fn code(self) -> &'static str {
        match self {
            Script::Latin => "Latn",
            Script::Cyrillic => "Cyrl",
            Script::Arabic => "Arab",
        }
    }

    fn adjective(self) -> &'static str {
        match self {
            Script::Latin => "Latin",
            Script::Cyrillic => "Cyrillic",
            Script::Arabic => "Arabic",
        }
    }

    /// Whether `c` is a letter or a mark of this script.
    fn owns(self, c: char) -> bool {
        match self {
            Script::Latin => {
                c.is_ascii_alphabetic()
                    || (('\u{00C0}'..='\u{024F}').contains(&c) && c != '×' && c != '÷')
                    || ('\u{1E00}'..='\u{1EFF}').contains(&c)
                    // Modifier letters, e.g. the Uzbek ʻ in Oʻg'il.
                    || ('\u{02B0}'..='\u{02FF}').contains(&c)
                    || ('\u{0300}'..='\u{036F}').contains(&c)
            }
            Script::Cyrillic => {
                ('\u{0400}'..='\u{052F}').contains(&c)
                    || ('\u{1C80}'..='\u{1C8F}').contains(&c)
                    || ('\u{2DE0}'..='\u{2DFF}').contains(&c)
                    || ('\u{A640}'..='\u{A69F}').contains(&c)
                    || ('\u{0300}'..='\u{036F}').contains(&c)
            }
            Script::Arabic => {
                (('\u{0600}'..='\u{06FF}').contains(&c) && !c.is_numeric())
                    || ('\u{0750}'..='\u{077F}').contains(&c)
                    || ('\u{08A0}'..='\u{08FF}').contains(&c)
                    || ('\u{FB50}'..='\u{FDFF}').contains(&c)
                    || ('\u{FE70}'..='\u{FEFE}').contains(&c)
                    // Zero-width (non-)joiners, as written in Persian names.
                    || c == '\u{200C}'
                    || c == '\u{200D}'
            }
        }
    }
}

/// A name written in one script: letters of that script, spaces, hyphens,
/// apostrophes and full stops; 1 to 200 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Name {
    script: Script,
    value: String,
}

impl Name {
    pub fn new(script: Script, value: &str) -> Result<Self, CensusError> {
        let adjective = script.adjective();
        if value.is_empty() {
            return Err(invalid(format!("the {adjective} name is empty")));
        }
        if value.trim() != value {
            return Err(invalid(format!(
                "the {adjective} name has leading or trailing spaces"
            )));
        }
        if value.contains("  ") {
            return Err(invalid(format!(
                "the {adjective} name has two spaces in a row"
            )));
        }
        let length = value.chars().count();
        if length > 200 {
            return Err(invalid(format!(
                "the {adjective} name has {length} characters; at most 200 are allowed"
            )));
        }
        let mut letters = 0;
        for c in value.chars() {
            if script.owns(c) {
                letters += usize::from(c.is_alphabetic());
            } else if !matches!(c, ' ' | '-' | '\'' | '\u{2019}' | '.') {
                return Err(invalid(format!(
                    "the {adjective} name contains U+{:04X} {}, which is not a letter of the {adjective} script",
                    c as u32,
                    if c.is_control() {
                        "(a control character)".to_owned()
                    } else {
                        format!("{c:?}")
                    }
                )));
            }
        }
        if letters == 0 {
            return Err(invalid(format!(
                "the {adjective} name has no {adjective} letter"
            )));
        }
        Ok(Self {
            script,
            value: value.to_owned(),
        })
    }

    pub fn script(&self) -> Script {
        self.script
    }

    pub fn as_str(&self) -> &str {
        &self.value
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.value)
    }
}

/// At most this many aliases, so that a person has at most 20 names.
pub const MAX_ALIASES: usize = 17;

/// Every name of one person the census holds: the full name as recorded in
/// up to three scripts (at least one), and aliases in Latin script (kunya,
/// names used in the camp), each at most once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonNames {
    latin: Option<Name>,
    cyrillic: Option<Name>,
    arabic: Option<Name>,
    aliases: Vec<Name>,
}

impl PersonNames {
    pub fn new(
        latin: Option<Name>,
        cyrillic: Option<Name>,
        arabic: Option<Name>,
        aliases: Vec<Name>,
    ) -> Result<Self, CensusError> {
        for (slot, script) in [
            (&latin, Script::Latin),
            (&cyrillic, Script::Cyrillic),
            (&arabic, Script::Arabic),
        ] {
            if let Some(name) = slot
                && name.script != script
            {
                return Err(invalid(format!(
                    "a {} name stands where the {} name belongs",
                    name.script.adjective(),
                    script.adjective()
                )));
            }
        }
        if latin.is_none() && cyrillic.is_none() && arabic.is_none() {
            return Err(invalid(
                "the person has no name: at least one of the Latin, Cyrillic and Arabic names is needed",
            ));
        }
        if aliases.len() > MAX_ALIASES {
            return Err(invalid(format!(
                "the person has {} aliases; at most {MAX_ALIASES} are allowed",
                aliases.len()
            )));
        }
        for (i, alias) in aliases.iter().enumerate() {
            if alias.script != Script::Latin {
                return Err(invalid(format!(
                    "alias {} is in {} script; aliases are written in Latin script",
                    i + 1,
                    alias.script.adjective()
                )));
            }
            if aliases[..i].contains(alias) {
                return Err(invalid(format!("alias {} repeats an earlier alias", i + 1)));
            }
        }
        Ok(Self {
            latin,
            cyrillic,
            arabic,
            aliases,
        })
    }

    pub fn latin(&self) -> Option<&Name> {
        self.latin.as_ref()
    }

    pub fn cyrillic(&self) -> Option<&Name> {
        self.cyrillic.as_ref()
    }

    pub fn arabic(&self) -> Option<&Name> {
        self.arabic.as_ref()
    }

    pub fn aliases(&self) -> &[Name] {
        &self.aliases
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_follow_the_schema_pattern() {
        for good in [
            "HOL-P5-000123",
            "ROJ-B2-000598-01",
            "IQBGD-2019-000052",
            "AB-1-2-3-4",
        ] {
            assert!(CaseRef::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "H-P5",
            "HOL",
            "hol-p5-1",
            "HOL-",
            "HOL--1",
            "HOL-P5-000123-01-02-03",
            "ABCDEFGHI-1",
            "HOL-1234567890123",
            "HOL-P5 ",
        ] {
            assert!(CaseRef::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn country_codes_must_be_assigned() {
        assert_eq!(COUNTRY_CODES.split_ascii_whitespace().count(), 250);
        assert_eq!(
            CountryCode::parse("KZ").map(|c| c.to_string()).ok(),
            Some("KZ".into())
        );
        assert!(CountryCode::parse("kz").is_err());
        assert!(CountryCode::parse("XX").is_err());
        assert!(CountryCode::parse("UK").is_err());
        assert!(CountryCode::parse("KAZ").is_err());
    }

    #[test]
    fn dates_must_exist() {
        assert_eq!(
            PartialDate::parse("2016").map(|d| d.to_string()).ok(),
            Some("2016".into())
        );
        assert_eq!(
            PartialDate::parse("2016-04").map(|d| d.to_string()).ok(),
            Some("2016-04".into())
        );
        assert!(PartialDate::parse("2016-02-29").is_ok());
        assert!(PartialDate::parse("2015-02-29").is_err());
        assert!(PartialDate::parse("2016-13").is_err());
        assert!(PartialDate::parse("2016-4").is_err());
        assert!(PartialDate::parse("16").is_err());
        assert!(PartialDate::parse("1899").is_err());
        assert!(PartialDate::parse("2016-04-01-01").is_err());
        assert!(PartialDate::parse("+016").is_err());
        let date = PartialDate::parse("2016-02").expect("a month");
        assert_eq!(date.earliest(), (2016, 2, 1));
        assert_eq!(date.latest(), (2016, 2, 29));
    }

    #[test]
    fn names_must_be_in_their_script() {
        assert!(Name::new(Script::Latin, "Gulnar Sadykbekova").is_ok());
        assert!(Name::new(Script::Latin, "Oʻgʻiloy Toʻrayeva").is_ok());
        assert!(Name::new(Script::Cyrillic, "Гүлнар Садықбекова").is_ok());
        assert!(Name::new(Script::Arabic, "أم يوسف").is_ok());
        // A Latin "a" hidden in a Cyrillic name.
        assert!(Name::new(Script::Cyrillic, "Гүлнaр").is_err());
        assert!(Name::new(Script::Latin, "Гүлнар").is_err());
        assert!(Name::new(Script::Latin, "Amina 2").is_err());
        assert!(Name::new(Script::Latin, "Amina;Zainab").is_err());
        assert!(Name::new(Script::Latin, " Amina").is_err());
        assert!(Name::new(Script::Latin, "-").is_err());
        assert!(Name::new(Script::Arabic, "يوسف ٢").is_err());
    }

    #[test]
    fn codes_parse_and_print() {
        for r in Relationship::ALL {
            assert_eq!(Relationship::parse(r.as_str()).ok(), Some(*r));
        }
        let err = Sex::parse("f").expect_err("not a sex code");
        assert_eq!(
            err.to_string(),
            "unknown sex \"f\"; expected one of female, male, unknown"
        );
    }
}
