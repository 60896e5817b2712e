//! Every kind of problem, reported with its line and column; all problems of
//! a file at once; nothing accepted from a file with one.

use homeward_census::{CensusError, Column, MAX_PROBLEMS, Problem, parse};

use crate::support::{census, header, row};

/// The problems of a text that must be rejected.
fn problems(text: &str) -> Vec<Problem> {
    match parse(text.as_bytes()) {
        Ok(census) => panic!("accepted a census that should be rejected: {census:?}"),
        Err(CensusError::Rejected { problems, total }) => {
            assert_eq!(total, problems.len(), "all problems listed");
            problems
        }
        Err(other) => panic!("expected a rejection, got {other}"),
    }
}

/// The one problem of a text, checked for its line and column; returns its
/// message.
fn only(text: &str, line: u64, column: Option<Column>) -> String {
    let found = problems(text);
    assert_eq!(found.len(), 1, "one problem expected: {found:#?}");
    assert_eq!(
        (found[0].line, found[0].column),
        (line, column),
        "{:?}",
        found[0]
    );
    found[0].message.clone()
}

/// A census whose second row (line 3) has these changes.
fn second_row(changes: &[(&str, &str)]) -> String {
    census(&[
        row("HOL-ANX-000001", 1, &[]),
        row("HOL-ANX-000001", 2, changes),
        row("HOL-ANX-000001", 3, &[]),
    ])
}

#[test]
fn an_empty_file_is_rejected_on_line_1() {
    let message = only("", 1, None);
    assert!(message.contains("expected a header row"), "{message}");
}

#[test]
fn a_header_without_rows_is_rejected_on_line_2() {
    let message = only(&format!("{}\n", header()), 2, None);
    assert_eq!(message, "the census has a header but no rows");
}

#[test]
fn header_problems_name_the_column() {
    let text = census(&[row("HOL-ANX-000001", 1, &[])]);
    let misspelt = text.replacen("birth_date_accuracy", "birth_date_acuracy", 1);
    let found = problems(&misspelt);
    assert_eq!(found.len(), 2, "{found:#?}");
    assert_eq!((found[0].line, found[0].column), (1, None));
    assert!(
        found[0]
            .message
            .contains("unknown column \"birth_date_acuracy\"")
    );
    assert_eq!(
        (found[1].line, found[1].column),
        (1, Some(Column::BirthDateAccuracy))
    );
    assert_eq!(found[1].message, "the header lacks this column");

    let twice = text.replacen("sex", "tent", 1);
    let found = problems(&twice);
    assert!(found.iter().any(
        |p| p.column == Some(Column::Tent) && p.message == "the header names this column twice"
    ));
    assert!(
        found
            .iter()
            .any(|p| p.column == Some(Column::Sex) && p.message == "the header lacks this column")
    );
}

#[test]
fn a_row_with_the_wrong_number_of_fields() {
    let mut text = census(&[row("HOL-ANX-000001", 1, &[])]);
    text.push_str("HOL-ANX-000001,HOL-ANX-000001-02,al-Hol\n");
    let message = only(&text, 3, None);
    assert_eq!(message, "the row has 3 fields but the header has 17");
}

#[test]
fn bytes_that_are_not_utf8() {
    let text = second_row(&[("name_latn", "NAME")]);
    let mut bytes = text.into_bytes();
    let at = bytes
        .windows(4)
        .position(|w| w == b"NAME")
        .expect("the marker");
    bytes[at] = 0xff;
    match parse(&bytes[..]) {
        Err(CensusError::Rejected { problems, .. }) => {
            assert_eq!(problems.len(), 1, "{problems:#?}");
            assert_eq!(
                (problems[0].line, problems[0].column),
                (3, Some(Column::NameLatn))
            );
            assert_eq!(problems[0].message, "is not valid UTF-8 text");
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[test]
fn each_wrong_value_is_blamed_on_its_line_and_column() {
    let cases: &[(&str, &str, Column, &str)] = &[
        (
            "family_ref",
            "hol-anx-1",
            Column::FamilyRef,
            "is not a case reference",
        ),
        (
            "person_ref",
            "HOL-ANX-000001-",
            Column::PersonRef,
            "is not a person reference",
        ),
        (
            "person_ref",
            "",
            Column::PersonRef,
            "is empty; every row must fill it",
        ),
        (
            "camp",
            "H",
            Column::Camp,
            "camp \"H\" has 1 characters; expected 2 to 80",
        ),
        (
            "block",
            "123456789012345678901",
            Column::Block,
            "expected 1 to 20",
        ),
        (
            "claimed_nationality",
            "kz",
            Column::ClaimedNationality,
            "is not a country code",
        ),
        (
            "claimed_nationality",
            "XX",
            Column::ClaimedNationality,
            "not an assigned ISO 3166-1",
        ),
        (
            "relationship_to_head",
            "son",
            Column::RelationshipToHead,
            "unknown relationship to head \"son\"",
        ),
        (
            "name_cyrl",
            "Айгерiм",
            Column::NameCyrl,
            "U+0069 'i', which is not a letter of the Cyrillic script",
        ),
        (
            "name_latn",
            "Айгерім",
            Column::NameLatn,
            "not a letter of the Latin script",
        ),
        (
            "name_arab",
            "Aigerim",
            Column::NameArab,
            "not a letter of the Arabic script",
        ),
        (
            "name_latn",
            "Aigerim 2",
            Column::NameLatn,
            "not a letter of the Latin script",
        ),
        (
            "aliases",
            "Umm Ali;;Umm Umar",
            Column::Aliases,
            "alias 2 is empty",
        ),
        (
            "aliases",
            "Umm Ali;أم علي",
            Column::Aliases,
            "alias 2: the Latin name contains",
        ),
        (
            "aliases",
            "Umm Ali;Umm Ali",
            Column::Aliases,
            "alias 2 repeats an earlier alias",
        ),
        (
            "sex",
            "f",
            Column::Sex,
            "unknown sex \"f\"; expected one of female, male, unknown",
        ),
        (
            "birth_date",
            "01.02.2015",
            Column::BirthDate,
            "is not a date: expected YYYY, YYYY-MM or YYYY-MM-DD",
        ),
        (
            "birth_date",
            "2015-02-29",
            Column::BirthDate,
            "2015-02-29 is not a date on the calendar",
        ),
        (
            "birth_date",
            "1850",
            Column::BirthDate,
            "year 1850 is out of range",
        ),
        (
            "birth_date_accuracy",
            "about",
            Column::BirthDateAccuracy,
            "unknown birth date accuracy",
        ),
        (
            "birthplace_country",
            "SYR",
            Column::BirthplaceCountry,
            "is not a country code",
        ),
        (
            "vulnerability",
            "orphan;sick",
            Column::Vulnerability,
            "flag 2: unknown vulnerability flag \"sick\"",
        ),
        (
            "vulnerability",
            "orphan;orphan",
            Column::Vulnerability,
            "flag orphan appears twice",
        ),
    ];
    for (column, value, expected_column, expected) in cases {
        let message = only(&second_row(&[(column, value)]), 3, Some(*expected_column));
        assert!(
            message.contains(expected),
            "{column}={value:?}: {message:?} does not say {expected:?}"
        );
    }
}

#[test]
fn a_person_needs_a_name() {
    let text = second_row(&[("name_latn", ""), ("name_cyrl", ""), ("name_arab", "")]);
    let message = only(&text, 3, Some(Column::NameLatn));
    assert!(message.starts_with("the person has no name"), "{message}");
    // One script is enough.
    let text = second_row(&[("name_latn", ""), ("name_cyrl", "")]);
    assert!(parse(text.as_bytes()).is_ok());
}

#[test]
fn a_man_is_not_recorded_pregnant() {
    let text = second_row(&[("sex", "male"), ("vulnerability", "pregnant")]);
    let message = only(&text, 3, Some(Column::Vulnerability));
    assert_eq!(
        message,
        "flag pregnant is recorded for a person whose sex is male"
    );
}

#[test]
fn messages_never_repeat_a_name() {
    let text = second_row(&[("name_cyrl", "Секрет Secretova")]);
    let message = only(&text, 3, Some(Column::NameCyrl));
    assert!(
        !message.contains("Secret") && !message.contains("Секрет"),
        "{message}"
    );
}

#[test]
fn a_person_ref_used_twice_names_both_lines() {
    let text = census(&[
        row("HOL-ANX-000001", 1, &[]),
        row("HOL-ANX-000002", 1, &[]),
        row("HOL-ANX-000002", 2, &[("person_ref", "HOL-ANX-000001-01")]),
    ]);
    let message = only(&text, 4, Some(Column::PersonRef));
    assert_eq!(
        message,
        "person HOL-ANX-000001-01 already appears on line 2"
    );
}

#[test]
fn a_unit_needs_exactly_one_head() {
    let none = census(&[
        row("HOL-ANX-000001", 1, &[]),
        row("HOL-ANX-000002", 1, &[("relationship_to_head", "sibling")]),
        row("HOL-ANX-000002", 2, &[("relationship_to_head", "sibling")]),
    ]);
    let message = only(&none, 3, Some(Column::RelationshipToHead));
    assert_eq!(
        message,
        "family unit HOL-ANX-000002 has no member whose relationship_to_head is head"
    );

    let two = second_row(&[("relationship_to_head", "head")]);
    let message = only(&two, 3, Some(Column::RelationshipToHead));
    assert_eq!(
        message,
        "family unit HOL-ANX-000001 already has its head on line 2; a unit has exactly one"
    );
}

#[test]
fn a_unit_of_more_than_30_is_blamed_on_its_31st_row() {
    let rows: Vec<String> = (1..=31).map(|m| row("HOL-ANX-000007", m, &[])).collect();
    let message = only(&census(&rows), 32, Some(Column::FamilyRef));
    assert!(
        message.starts_with("family unit HOL-ANX-000007 has more than 30 members"),
        "{message}"
    );
    assert!(parse(census(&rows[..30]).as_bytes()).is_ok());
}

#[test]
fn a_unit_has_one_nationality_and_one_place() {
    let message = only(
        &second_row(&[("claimed_nationality", "UZ")]),
        3,
        Some(Column::ClaimedNationality),
    );
    assert_eq!(
        message,
        "family unit HOL-ANX-000001 claims KZ on line 2 but UZ here; a unit has one claimed nationality"
    );
    for (column, value, expected) in [
        ("camp", "Roj", Column::Camp),
        ("section", "phase 5", Column::Section),
        ("section", "", Column::Section),
        ("block", "5", Column::Block),
        ("tent", "", Column::Tent),
    ] {
        let message = only(&second_row(&[(column, value)]), 3, Some(expected));
        assert!(message.contains("lives elsewhere on line 2"), "{message}");
    }
}

#[test]
fn every_problem_of_the_file_is_reported_in_line_order() {
    let text = census(&[
        row(
            "HOL-ANX-000001",
            1,
            &[("sex", "x"), ("birth_date", "2019-13")],
        ),
        row("HOL-ANX-000001", 2, &[]),
        row("HOL-ANX-000002", 1, &[("claimed_nationality", "Kazakh")]),
        row("HOL-ANX-000003", 1, &[]),
        row("HOL-ANX-000003", 2, &[("relationship_to_head", "head")]),
    ]);
    let found: Vec<(u64, Option<Column>)> =
        problems(&text).iter().map(|p| (p.line, p.column)).collect();
    assert_eq!(
        found,
        [
            (2, Some(Column::Sex)),
            (2, Some(Column::BirthDate)),
            (4, Some(Column::ClaimedNationality)),
            (6, Some(Column::RelationshipToHead)),
        ]
    );
}

#[test]
fn lines_count_line_breaks_inside_quoted_fields() {
    // A line break inside a quoted field is read as part of the field (and
    // is wrong in a section); the next row's line counts it.
    let mut text = census(&[row("HOL-ANX-000001", 1, &[("section", "\"an\nnex\"")])]);
    text.push_str(&row("HOL-ANX-000001", 2, &[("sex", "?")]));
    text.push('\n');
    let found: Vec<(u64, Option<Column>)> =
        problems(&text).iter().map(|p| (p.line, p.column)).collect();
    assert_eq!(found, [(2, Some(Column::Section)), (4, Some(Column::Sex))]);
}

#[test]
fn a_long_list_of_problems_is_capped_and_counted() {
    let rows: Vec<String> = (1..=150)
        .map(|n| row(&format!("HOL-ANX-{n:06}"), 1, &[("sex", "?")]))
        .collect();
    match parse(census(&rows).as_bytes()) {
        Err(error @ CensusError::Rejected { .. }) => {
            let CensusError::Rejected { problems, total } = &error else {
                unreachable!()
            };
            assert_eq!(*total, 150);
            assert_eq!(problems.len(), MAX_PROBLEMS);
            assert_eq!(problems[0].line, 2);
            assert_eq!(problems[99].line, 101);
            let text = error.to_string();
            assert!(text.starts_with(
                "the census was rejected with 150 problems and nothing of it was imported\n  line 2, column sex: unknown sex"
            ));
            assert!(text.ends_with("\n  and 50 more not listed"), "{text}");
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
}
