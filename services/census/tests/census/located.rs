//! The located data of every unit is valid against the published schema.

use homeward_census::{LOCATED_SCHEMA, LOCATED_TYPE, parse};
use homeward_core::SchemaRegistry;
use serde_json::json;

use crate::support::{SAMPLE, built};

#[test]
fn every_unit_of_a_census_is_valid_located_data() -> anyhow::Result<()> {
    let schemas = SchemaRegistry::embedded()?;
    let mut units = parse(SAMPLE.as_bytes())?.families;
    units.extend(built(500));
    for unit in &units {
        let data = unit.located_data();
        if let Err(check) = schemas.validate_data(LOCATED_TYPE, LOCATED_SCHEMA, &data) {
            panic!("{} is not valid: {check:?}\n{data:#}", unit.family_ref());
        }
    }
    Ok(())
}

#[test]
fn the_schema_id_is_a_published_one_every_member_reads() -> anyhow::Result<()> {
    let schemas = SchemaRegistry::embedded()?;
    assert!(schemas.document(LOCATED_SCHEMA).is_some());
    assert_eq!(
        homeward_core::schema::parse_message_schema_id(LOCATED_SCHEMA),
        Some((LOCATED_TYPE, 1)),
        "version 1: the one a member reads when the policy lists none"
    );
    Ok(())
}

#[test]
fn located_data_of_orphaned_siblings() -> anyhow::Result<()> {
    let census = parse(SAMPLE.as_bytes())?;
    let orphans = &census.families[1];
    assert_eq!(
        orphans.located_data(),
        json!({
            "caseRef": "HOL-ANX-000045",
            "claimedNationality": "KZ",
            "campLocation": {"camp": "al-Hol", "section": "annex", "block": "3"},
            "familyUnit": {
                "familyRef": "HOL-ANX-000045",
                "head": "HOL-ANX-000045-01",
                "members": [
                    {
                        "personRef": "HOL-ANX-000045-01",
                        "names": [
                            {"value": "Ibrahim", "script": "Latn", "kind": "as-recorded"},
                            {"value": "إبراهيم", "script": "Arab", "kind": "as-recorded"}
                        ],
                        "sex": "male",
                        "birthDate": {"value": "2010", "accuracy": "estimated"},
                        "claimedNationality": "KZ",
                        "relationshipToHead": "head",
                        "vulnerability": ["unaccompanied", "orphan"]
                    },
                    {
                        "personRef": "HOL-ANX-000045-02",
                        "names": [
                            {"value": "Maryam", "script": "Latn", "kind": "as-recorded"},
                            {"value": "مريم", "script": "Arab", "kind": "as-recorded"}
                        ],
                        "sex": "female",
                        "birthDate": {"value": "2012", "accuracy": "estimated"},
                        "birthplaceCountry": "SY",
                        "claimedNationality": "KZ",
                        "relationshipToHead": "sibling",
                        "vulnerability": ["unaccompanied", "orphan"]
                    }
                ]
            }
        })
    );
    Ok(())
}

#[test]
fn aliases_follow_the_names_and_the_head_need_not_come_first() -> anyhow::Result<()> {
    let census = parse(SAMPLE.as_bytes())?;
    let names = &census.families[0].located_data()["familyUnit"]["members"][0]["names"];
    assert_eq!(
        names,
        &json!([
            {"value": "Gulnar Sadykbekova", "script": "Latn", "kind": "as-recorded"},
            {"value": "Гүлнар Садықбекова", "script": "Cyrl", "kind": "as-recorded"},
            {"value": "گلنار صادقبيكوفا", "script": "Arab", "kind": "as-recorded"},
            {"value": "Umm Yusuf", "script": "Latn", "kind": "alias"},
            {"value": "Umm Yusuf al-Kazakhiya", "script": "Latn", "kind": "alias"}
        ])
    );
    let text = SAMPLE
        .replace(",KZ,head,Ibrahim", ",KZ,sibling,Ibrahim")
        .replace(",KZ,sibling,Maryam", ",KZ,head,Maryam");
    let census = parse(text.as_bytes())?;
    assert_eq!(
        census.families[1].located_data()["familyUnit"]["head"],
        "HOL-ANX-000045-02"
    );
    Ok(())
}
