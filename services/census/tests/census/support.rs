//! Census texts and units built for the tests.

use homeward_census::{
    BirthDate, CampLocation, CaseRef, Column, CountryCode, DateAccuracy, FamilyUnit, Name,
    PartialDate, Person, PersonNames, PersonRef, Relationship, Script, Sex, Vulnerability,
};

/// The header in the order `write` uses.
pub fn header() -> String {
    Column::ALL.map(Column::name).join(",")
}

/// A valid row of a unit, with some columns replaced: `(column, value)`.
pub fn row(family: &str, member: u8, changes: &[(&str, &str)]) -> String {
    let person_ref = format!("{family}-{member:02}");
    let relationship = if member == 1 { "head" } else { "child" };
    let mut fields: Vec<(&str, String)> = vec![
        ("family_ref", family.to_owned()),
        ("person_ref", person_ref),
        ("camp", "al-Hol".into()),
        ("section", "annex".into()),
        ("block", "4".into()),
        ("tent", "17".into()),
        ("claimed_nationality", "KZ".into()),
        ("relationship_to_head", relationship.into()),
        ("name_latn", "Aigerim Kasymova".into()),
        ("name_cyrl", "Айгерім Қасымова".into()),
        ("name_arab", "آيگريم قاسموفا".into()),
        ("aliases", String::new()),
        ("sex", "female".into()),
        ("birth_date", "1990".into()),
        ("birth_date_accuracy", "approximate".into()),
        ("birthplace_country", "KZ".into()),
        ("vulnerability", String::new()),
    ];
    for (column, value) in changes {
        let field = fields
            .iter_mut()
            .find(|(c, _)| c == column)
            .unwrap_or_else(|| panic!("no column {column}"));
        field.1 = (*value).to_owned();
    }
    fields
        .into_iter()
        .map(|(_, v)| v)
        .collect::<Vec<_>>()
        .join(",")
}

/// A census text: the header, then these rows.
pub fn census(rows: &[String]) -> String {
    let mut text = header();
    text.push('\n');
    for row in rows {
        text.push_str(row);
        text.push('\n');
    }
    text
}

/// A small census in the canonical form `write` produces, with a unit of
/// every shape: mother and children, father and spouse, orphaned siblings,
/// a unit with no section, block or tent, quoting in labels.
pub const SAMPLE: &str = "\
family_ref,person_ref,camp,section,block,tent,claimed_nationality,relationship_to_head,name_latn,name_cyrl,name_arab,aliases,sex,birth_date,birth_date_accuracy,birthplace_country,vulnerability
HOL-P5-000123,HOL-P5-000123-01,al-Hol,phase 5,7,112,KZ,head,Gulnar Sadykbekova,Гүлнар Садықбекова,گلنار صادقبيكوفا,Umm Yusuf;Umm Yusuf al-Kazakhiya,female,1991,approximate,KZ,pregnant
HOL-P5-000123,HOL-P5-000123-02,al-Hol,phase 5,7,112,KZ,child,Yusuf Ermekov,Юсуф Ермеков,يوسف يرميكوف,,male,2013-08-02,exact,KZ,
HOL-P5-000123,HOL-P5-000123-03,al-Hol,phase 5,7,112,KZ,child,Amina Ermekova,,آمنة,,female,2016-04,approximate,SY,medical
HOL-ANX-000045,HOL-ANX-000045-01,al-Hol,annex,3,,KZ,head,Ibrahim,,إبراهيم,,male,2010,estimated,,unaccompanied;orphan
HOL-ANX-000045,HOL-ANX-000045-02,al-Hol,annex,3,,KZ,sibling,Maryam,,مريم,,female,2012,estimated,SY,unaccompanied;orphan
ROJ-B2-000598,ROJ-B2-000598-01,Roj,\"B2, \"\"new\"\" side\",2,40,UZ,head,Bobur Tursunov,Бобур Турсунов,بابر تورسونوف,Abu Hamza,male,1984-11-30,exact,UZ,
ROJ-B2-000598,ROJ-B2-000598-02,Roj,\"B2, \"\"new\"\" side\",2,40,UZ,spouse,Dilnoza Tursunova,Дилноза Турсунова,دلنوزا تورسونوفا,,female,1992,approximate,UZ,disability
ROJ-B2-000598,ROJ-B2-000598-03,Roj,\"B2, \"\"new\"\" side\",2,40,UZ,child,Hamza Tursunov,Хамза Турсунов,حمزة تورسونوف,,male,2017,estimated,SY,
IQBGD-2019-000052,IQBGD-2019-000052-01,Baghdad Central,,,,TJ,head,,Мадина Қосимова,,,unknown,1999-02,estimated,,separated
";

fn name(script: Script, value: &str) -> Option<Name> {
    Some(Name::new(script, value).expect("a valid name"))
}

/// A census built from code rather than text, covering every code of every
/// closed list and a unit of the largest size, numbered from `serial`.
pub fn built(serial: u32) -> Vec<FamilyUnit> {
    let given = [
        ("Aliya", "Әлия", "عالية"),
        ("Timur", "Тимур", "تيمور"),
        ("Zainab", "Зайнаб", "زينب"),
        ("Oʻtkir", "Ўткир", "اوتكير"),
    ];
    let flags = Vulnerability::ALL;
    let sexes = Sex::ALL;
    let accuracies = DateAccuracy::ALL;
    let others: Vec<Relationship> = Relationship::ALL
        .iter()
        .copied()
        .filter(|r| *r != Relationship::Head)
        .collect();
    let sizes = [1usize, 2, 5, 30, 9, 3];
    let mut units = Vec::new();
    for (u, size) in sizes.iter().enumerate() {
        let family = CaseRef::parse(&format!("HOL-ANX-{:06}", serial + u as u32)).expect("a ref");
        let location = if u % 2 == 0 {
            CampLocation::new("al-Hol", Some("annex"), Some(&u.to_string()), Some("9"))
        } else {
            CampLocation::new("Roj", None, None, None)
        }
        .expect("a location");
        let nationality =
            CountryCode::parse(["KZ", "UZ", "TJ", "KG", "TM", "IQ"][u]).expect("a code");
        let members = (0..*size)
            .map(|m| {
                let (latn, cyrl, arab) = given[(u + m) % given.len()];
                let sex = if m == 0 {
                    Sex::Female
                } else {
                    sexes[m % sexes.len()]
                };
                let date = match m % 3 {
                    0 => PartialDate::year(1980 + m as u16),
                    1 => PartialDate::year_month(2000 + m as u16, (m % 12) as u8 + 1),
                    _ => PartialDate::full(2004 + m as u16 % 15, 2, 28),
                }
                .expect("a date");
                let mut vulnerability = std::collections::BTreeSet::new();
                if m % 4 == 1 {
                    vulnerability.insert(flags[(m / 4) % flags.len()]);
                    vulnerability.insert(Vulnerability::Medical);
                }
                if sex == Sex::Male {
                    vulnerability.remove(&Vulnerability::Pregnant);
                }
                let aliases = if m % 5 == 0 {
                    vec![
                        Name::new(Script::Latin, &format!("Umm {}", given[m % 4].0))
                            .expect("alias"),
                    ]
                } else {
                    Vec::new()
                };
                Person {
                    person_ref: PersonRef::member_of(&family, m as u8 + 1).expect("a person ref"),
                    relationship: if m == 0 {
                        Relationship::Head
                    } else {
                        others[m % others.len()]
                    },
                    names: PersonNames::new(
                        (m % 7 != 3).then_some(()).and(name(Script::Latin, latn)),
                        (m % 2 == 0).then_some(()).and(name(Script::Cyrillic, cyrl)),
                        name(Script::Arabic, arab),
                        aliases,
                    )
                    .expect("names"),
                    sex,
                    birth_date: BirthDate {
                        date,
                        accuracy: accuracies[m % accuracies.len()],
                    },
                    birthplace_country: (m % 3 != 2).then(|| {
                        CountryCode::parse(if m > 2 { "SY" } else { "KZ" }).expect("a code")
                    }),
                    vulnerability,
                }
            })
            .collect();
        units.push(FamilyUnit::new(family, nationality, location, members).expect("a unit"));
    }
    units
}
