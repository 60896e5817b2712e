//! The CSV file: its columns, the strict reader and the writer.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;
use std::io;

use crate::error::Problem;
use crate::family::{Census, FamilyUnit, Person};
use crate::value::{
    BirthDate, CampLocation, CaseRef, CountryCode, DateAccuracy, Name, PartialDate, PersonNames,
    PersonRef, Relationship, Script, Sex, Vulnerability,
};
use crate::{CensusError, MAX_PROBLEMS};

/// Separates the items of a list inside one field (`aliases`,
/// `vulnerability`).
pub const LIST_SEPARATOR: char = ';';

/// A column of the census, in the order [`write()`] writes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Column {
    FamilyRef,
    PersonRef,
    Camp,
    Section,
    Block,
    Tent,
    ClaimedNationality,
    RelationshipToHead,
    NameLatn,
    NameCyrl,
    NameArab,
    Aliases,
    Sex,
    BirthDate,
    BirthDateAccuracy,
    BirthplaceCountry,
    Vulnerability,
}

impl Column {
    /// Every column, in the order [`write()`] writes them.
    pub const ALL: [Column; 17] = [
        Column::FamilyRef,
        Column::PersonRef,
        Column::Camp,
        Column::Section,
        Column::Block,
        Column::Tent,
        Column::ClaimedNationality,
        Column::RelationshipToHead,
        Column::NameLatn,
        Column::NameCyrl,
        Column::NameArab,
        Column::Aliases,
        Column::Sex,
        Column::BirthDate,
        Column::BirthDateAccuracy,
        Column::BirthplaceCountry,
        Column::Vulnerability,
    ];

    /// The column's name in the header row.
    pub fn name(self) -> &'static str {
        match self {
            Column::FamilyRef => "family_ref",
            Column::PersonRef => "person_ref",
            Column::Camp => "camp",
            Column::Section => "section",
            Column::Block => "block",
            Column::Tent => "tent",
            Column::ClaimedNationality => "claimed_nationality",
            Column::RelationshipToHead => "relationship_to_head",
            Column::NameLatn => "name_latn",
            Column::NameCyrl => "name_cyrl",
            Column::NameArab => "name_arab",
            Column::Aliases => "aliases",
            Column::Sex => "sex",
            Column::BirthDate => "birth_date",
            Column::BirthDateAccuracy => "birth_date_accuracy",
            Column::BirthplaceCountry => "birthplace_country",
            Column::Vulnerability => "vulnerability",
        }
    }

    /// The column with this exact header name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == name)
    }

    /// Whether every row must fill this column.
    pub fn required(self) -> bool {
        matches!(
            self,
            Column::FamilyRef
                | Column::PersonRef
                | Column::Camp
                | Column::ClaimedNationality
                | Column::RelationshipToHead
                | Column::Sex
                | Column::BirthDate
                | Column::BirthDateAccuracy
        )
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Column {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// Problems found so far: the first [`MAX_PROBLEMS`] kept, all counted.
#[derive(Default)]
struct Problems {
    kept: Vec<Problem>,
    total: usize,
}

impl Problems {
    fn push(&mut self, problem: Problem) {
        self.total += 1;
        if self.kept.len() < MAX_PROBLEMS {
            self.kept.push(problem);
        }
    }

    fn into_error(mut self) -> CensusError {
        self.kept.sort_by_key(|p| (p.line, p.column));
        CensusError::Rejected {
            problems: self.kept,
            total: self.total,
        }
    }
}

/// One row that parsed, with where it came from.
struct Row {
    line: u64,
    family_ref: CaseRef,
    claimed_nationality: CountryCode,
    camp_location: CampLocation,
    person: Person,
}

/// The fields of one row by column, read as UTF-8 and trimmed; `None` where
/// the bytes were not UTF-8 (already reported).
struct Fields<'a> {
    line: u64,
    values: [Option<&'a str>; 17],
    problems: Vec<Problem>,
}

impl<'a> Fields<'a> {
    fn problem(&mut self, column: Column, message: impl Into<String>) {
        self.problems
            .push(Problem::new(self.line, Some(column), message));
    }

    /// The checked value of a required column.
    fn required<T>(
        &mut self,
        column: Column,
        check: impl FnOnce(&'a str) -> Result<T, CensusError>,
    ) -> Option<T> {
        match self.values[column.index()] {
            None => None,
            Some("") => {
                self.problem(column, "is empty; every row must fill it");
                None
            }
            Some(value) => check(value)
                .map_err(|e| self.problem(column, e.message()))
                .ok(),
        }
    }

    /// The checked value of an optional column: `Some(None)` when empty,
    /// `None` when the value is wrong.
    fn optional<T>(
        &mut self,
        column: Column,
        check: impl FnOnce(&'a str) -> Result<T, CensusError>,
    ) -> Option<Option<T>> {
        match self.values[column.index()] {
            None => None,
            Some("") => Some(None),
            Some(value) => check(value)
                .map(Some)
                .map_err(|e| self.problem(column, e.message()))
                .ok(),
        }
    }

    fn list<T>(
        &mut self,
        column: Column,
        what: &str,
        check: impl Fn(&str) -> Result<T, CensusError>,
    ) -> Option<Vec<T>> {
        let value = self.values[column.index()]?;
        if value.is_empty() {
            return Some(Vec::new());
        }
        let mut items = Vec::new();
        for (i, item) in value.split(LIST_SEPARATOR).enumerate() {
            let item = item.trim();
            if item.is_empty() {
                self.problem(
                    column,
                    format!(
                        "{what} {} is empty (two separators in a row, or one at an end)",
                        i + 1
                    ),
                );
                return None;
            }
            match check(item) {
                Ok(item) => items.push(item),
                Err(e) => {
                    self.problem(column, format!("{what} {}: {}", i + 1, e.message()));
                    return None;
                }
            }
        }
        Some(items)
    }
}

/// Reads and checks a whole census. A census is accepted whole or not at
/// all: any problem anywhere rejects it, and the error lists every problem
/// found (the first [`MAX_PROBLEMS`]) with its line and column.
pub fn parse<R: io::Read>(reader: R) -> Result<Census, CensusError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(reader);
    let mut record = csv::ByteRecord::new();
    let mut problems = Problems::default();

    if !reader
        .read_byte_record(&mut record)
        .map_err(CensusError::Read)?
    {
        problems.push(Problem::new(
            1,
            None,
            format!(
                "the census is empty; expected a header row naming the columns {}",
                column_list()
            ),
        ));
        return Err(problems.into_error());
    }
    let header_line = record.position().map_or(1, |p| p.line());
    let Some(columns) = read_header(header_line, &record, &mut problems) else {
        return Err(problems.into_error());
    };

    let mut rows = Vec::new();
    // Families with a row that did not parse, by their raw family_ref: their
    // whole-unit checks would only repeat that row's problem.
    let mut broken_families = HashSet::new();
    let mut person_lines: HashMap<String, u64> = HashMap::new();
    while reader
        .read_byte_record(&mut record)
        .map_err(CensusError::Read)?
    {
        let line = record.position().map_or(0, |p| p.line());
        if record.len() != columns.len() {
            problems.push(Problem::new(
                line,
                None,
                format!(
                    "the row has {} fields but the header has {}",
                    record.len(),
                    columns.len()
                ),
            ));
            continue;
        }
        let mut fields = Fields {
            line,
            values: [None; 17],
            problems: Vec::new(),
        };
        for (bytes, column) in record.iter().zip(&columns) {
            match std::str::from_utf8(bytes) {
                Ok(text) => fields.values[column.index()] = Some(text.trim()),
                Err(_) => fields.problem(*column, "is not valid UTF-8 text"),
            }
        }
        if let Some(person_ref) = fields.values[Column::PersonRef.index()].filter(|r| !r.is_empty())
        {
            if let Some(first) = person_lines.get(person_ref) {
                fields.problem(
                    Column::PersonRef,
                    format!("person {person_ref} already appears on line {first}"),
                );
            } else {
                person_lines.insert(person_ref.to_owned(), line);
            }
        }
        let family = fields.values[Column::FamilyRef.index()].map(str::to_owned);
        match read_row(&mut fields) {
            Some(row) if fields.problems.is_empty() => rows.push(row),
            _ => {
                broken_families.extend(family);
                for problem in fields.problems {
                    problems.push(problem);
                }
            }
        }
    }
    if rows.is_empty() && problems.total == 0 {
        problems.push(Problem::new(
            header_line + 1,
            None,
            "the census has a header but no rows",
        ));
    }

    let families = group(rows, &broken_families, &mut problems);
    if problems.total > 0 {
        return Err(problems.into_error());
    }
    Ok(Census { families })
}

fn column_list() -> String {
    Column::ALL.map(Column::name).join(", ")
}

/// The column of each field of the header, or `None` if the header is wrong
/// (its problems pushed).
fn read_header(
    line: u64,
    record: &csv::ByteRecord,
    problems: &mut Problems,
) -> Option<Vec<Column>> {
    let before = problems.total;
    let mut columns = Vec::new();
    for (i, bytes) in record.iter().enumerate() {
        let Ok(name) = std::str::from_utf8(bytes) else {
            problems.push(Problem::new(
                line,
                None,
                format!("header field {} is not valid UTF-8 text", i + 1),
            ));
            continue;
        };
        // A byte order mark, as spreadsheet programs write one.
        let name = name.trim_start_matches('\u{feff}').trim();
        match Column::from_name(name) {
            Some(column) if columns.contains(&column) => problems.push(Problem::new(
                line,
                Some(column),
                "the header names this column twice",
            )),
            Some(column) => columns.push(column),
            None => problems.push(Problem::new(
                line,
                None,
                format!(
                    "header field {} names an unknown column {:?}; the columns are {}",
                    i + 1,
                    name.chars().take(40).collect::<String>(),
                    column_list()
                ),
            )),
        }
    }
    for column in Column::ALL {
        if !columns.contains(&column) {
            problems.push(Problem::new(
                line,
                Some(column),
                "the header lacks this column",
            ));
        }
    }
    (problems.total == before).then_some(columns)
}

/// Checks every field of a row; `None` if any is wrong (problems in
/// `fields`).
fn read_row(fields: &mut Fields<'_>) -> Option<Row> {
    let family_ref = fields.required(Column::FamilyRef, CaseRef::parse);
    let person_ref = fields.required(Column::PersonRef, PersonRef::parse);
    let camp = fields.required(Column::Camp, CampLocation::check_camp);
    let section = fields.optional(Column::Section, CampLocation::check_section);
    let block = fields.optional(Column::Block, CampLocation::check_block);
    let tent = fields.optional(Column::Tent, CampLocation::check_tent);
    let claimed_nationality = fields.required(Column::ClaimedNationality, CountryCode::parse);
    let relationship = fields.required(Column::RelationshipToHead, Relationship::parse);
    let latin = fields.optional(Column::NameLatn, |v| Name::new(Script::Latin, v));
    let cyrillic = fields.optional(Column::NameCyrl, |v| Name::new(Script::Cyrillic, v));
    let arabic = fields.optional(Column::NameArab, |v| Name::new(Script::Arabic, v));
    let aliases = fields.list(Column::Aliases, "alias", |v| Name::new(Script::Latin, v));
    let sex = fields.required(Column::Sex, Sex::parse);
    let date = fields.required(Column::BirthDate, PartialDate::parse);
    let accuracy = fields.required(Column::BirthDateAccuracy, DateAccuracy::parse);
    let birthplace_country = fields.optional(Column::BirthplaceCountry, CountryCode::parse);
    let flags = fields.list(Column::Vulnerability, "flag", Vulnerability::parse);

    let names = match (latin, cyrillic, arabic, aliases) {
        (Some(None), Some(None), Some(None), _) => {
            fields.problem(
                Column::NameLatn,
                "the person has no name: at least one of name_latn, name_cyrl and name_arab must be filled",
            );
            None
        }
        (Some(latin), Some(cyrillic), Some(arabic), Some(aliases)) => {
            PersonNames::new(latin, cyrillic, arabic, aliases)
                .map_err(|e| fields.problem(Column::Aliases, e.message()))
                .ok()
        }
        _ => None,
    };

    let vulnerability = flags.and_then(|flags| {
        let mut set = BTreeSet::new();
        for flag in flags {
            if !set.insert(flag) {
                fields.problem(Column::Vulnerability, format!("flag {flag} appears twice"));
                return None;
            }
        }
        if set.contains(&Vulnerability::Pregnant) && sex == Some(Sex::Male) {
            fields.problem(
                Column::Vulnerability,
                "flag pregnant is recorded for a person whose sex is male",
            );
            return None;
        }
        Some(set)
    });

    let camp_location = CampLocation::new(
        &camp?,
        section?.as_deref(),
        block?.as_deref(),
        tent?.as_deref(),
    )
    .ok()?;
    Some(Row {
        line: fields.line,
        family_ref: family_ref?,
        claimed_nationality: claimed_nationality?,
        camp_location,
        person: Person {
            person_ref: person_ref?,
            relationship: relationship?,
            names: names?,
            sex: sex?,
            birth_date: BirthDate {
                date: date?,
                accuracy: accuracy?,
            },
            birthplace_country: birthplace_country?,
            vulnerability: vulnerability?,
        },
    })
}

/// Groups rows into family units, in the order the file first names each,
/// and checks each unit as a whole.
fn group(
    rows: Vec<Row>,
    broken_families: &HashSet<String>,
    problems: &mut Problems,
) -> Vec<FamilyUnit> {
    let mut order: Vec<CaseRef> = Vec::new();
    let mut by_ref: HashMap<CaseRef, Vec<Row>> = HashMap::new();
    for row in rows {
        let rows = by_ref.entry(row.family_ref.clone()).or_default();
        if rows.is_empty() {
            order.push(row.family_ref.clone());
        }
        rows.push(row);
    }

    let mut families = Vec::new();
    for family_ref in order {
        let rows = by_ref.remove(&family_ref).unwrap_or_default();
        let broken = broken_families.contains(family_ref.as_str());
        check_family(&family_ref, &rows, broken, problems);
        // Once anything is wrong the census is rejected: only the checks
        // still matter, not the units.
        if problems.total > 0 {
            continue;
        }
        let first = &rows[0];
        let (nationality, location, line) = (
            first.claimed_nationality,
            first.camp_location.clone(),
            first.line,
        );
        let members = rows.into_iter().map(|r| r.person).collect();
        match FamilyUnit::new(family_ref, nationality, location, members) {
            Ok(family) => families.push(family),
            // Every rule of `FamilyUnit::new` was checked above with a line
            // to blame; this keeps the two from drifting apart silently.
            Err(e) => problems.push(Problem::new(line, Some(Column::FamilyRef), e.to_string())),
        }
    }
    families
}

fn check_family(family_ref: &CaseRef, rows: &[Row], broken: bool, problems: &mut Problems) {
    let Some(first) = rows.first() else {
        return;
    };
    if let Some(extra) = rows.get(FamilyUnit::MAX_MEMBERS) {
        problems.push(Problem::new(
            extra.line,
            Some(Column::FamilyRef),
            format!(
                "family unit {family_ref} has more than {} members (this is member {}; the unit starts on line {}); register larger groups as several units",
                FamilyUnit::MAX_MEMBERS,
                FamilyUnit::MAX_MEMBERS + 1,
                first.line
            ),
        ));
    }
    for row in &rows[1..] {
        if row.claimed_nationality != first.claimed_nationality {
            problems.push(Problem::new(
                row.line,
                Some(Column::ClaimedNationality),
                format!(
                    "family unit {family_ref} claims {} on line {} but {} here; a unit has one claimed nationality",
                    first.claimed_nationality, first.line, row.claimed_nationality
                ),
            ));
        }
        let (a, b) = (&first.camp_location, &row.camp_location);
        let differing = [
            (Column::Camp, Some(a.camp()) != Some(b.camp())),
            (Column::Section, a.section() != b.section()),
            (Column::Block, a.block() != b.block()),
            (Column::Tent, a.tent() != b.tent()),
        ]
        .into_iter()
        .find(|(_, differs)| *differs);
        if let Some((column, _)) = differing {
            problems.push(Problem::new(
                row.line,
                Some(column),
                format!(
                    "family unit {family_ref} lives elsewhere on line {}; a unit has one camp, section, block and tent",
                    first.line
                ),
            ));
        }
    }
    let heads: Vec<&Row> = rows
        .iter()
        .filter(|r| r.person.relationship == Relationship::Head)
        .collect();
    match heads.as_slice() {
        [] if !broken => problems.push(Problem::new(
            first.line,
            Some(Column::RelationshipToHead),
            format!("family unit {family_ref} has no member whose relationship_to_head is head"),
        )),
        [first_head, others @ ..] => {
            for other in others {
                problems.push(Problem::new(
                    other.line,
                    Some(Column::RelationshipToHead),
                    format!(
                        "family unit {family_ref} already has its head on line {}; a unit has exactly one",
                        first_head.line
                    ),
                ));
            }
        }
        [] => {}
    }
}

/// Writes family units as a census, header first, one row per person, in
/// the units' order.
pub fn write_to<W: io::Write>(writer: W, families: &[FamilyUnit]) -> Result<(), CensusError> {
    let mut out = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(writer);
    out.write_record(Column::ALL.map(Column::name))
        .map_err(CensusError::Write)?;
    for family in families {
        let location = family.camp_location();
        let nationality = family.claimed_nationality();
        for person in family.members() {
            let names = &person.names;
            let aliases: Vec<&str> = names.aliases().iter().map(Name::as_str).collect();
            let flags: Vec<&str> = person.vulnerability.iter().map(|v| v.as_str()).collect();
            let date = person.birth_date.date.to_string();
            let row: [&str; 17] = [
                family.family_ref().as_str(),
                person.person_ref.as_str(),
                location.camp(),
                location.section().unwrap_or(""),
                location.block().unwrap_or(""),
                location.tent().unwrap_or(""),
                nationality.as_str(),
                person.relationship.as_str(),
                names.latin().map_or("", Name::as_str),
                names.cyrillic().map_or("", Name::as_str),
                names.arabic().map_or("", Name::as_str),
                &aliases.join(";"),
                person.sex.as_str(),
                &date,
                person.birth_date.accuracy.as_str(),
                person
                    .birthplace_country
                    .as_ref()
                    .map_or("", |c| c.as_str()),
                &flags.join(";"),
            ];
            out.write_record(row).map_err(CensusError::Write)?;
        }
    }
    out.flush()
        .map_err(|e| CensusError::Write(csv::Error::from(e)))
}

/// The census of these family units as CSV text, header first.
pub fn write(families: &[FamilyUnit]) -> String {
    let mut bytes = Vec::new();
    // Writing to memory has no I/O to fail, and every value is UTF-8 text.
    if write_to(&mut bytes, families).is_err() {
        unreachable!("writing a census to memory cannot fail");
    }
    String::from_utf8(bytes).unwrap_or_else(|_| unreachable!("a census is UTF-8 text"))
}
