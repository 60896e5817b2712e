//! The census the camp registry imports: it reads back as generated, and
//! every unit's located message is valid and small.

use homeward_census::{LOCATED_SCHEMA, LOCATED_TYPE, parse};
use homeward_core::SchemaRegistry;
use homeward_scenario::population::Population;

use crate::SEEDS;

#[test]
fn the_census_reads_back_as_generated() -> anyhow::Result<()> {
    for seed in SEEDS {
        let population = Population::generate(seed);
        let read = parse(population.census_csv().as_bytes())?;
        assert_eq!(read.families, population.census());
        assert_eq!(read.persons(), 516 + 156 + 5);
    }
    Ok(())
}

#[test]
fn every_located_message_is_valid_and_fits_an_envelope() -> anyhow::Result<()> {
    let schemas = SchemaRegistry::embedded()?;
    for seed in SEEDS {
        for unit in Population::generate(seed).census() {
            let data = unit.located_data();
            if let Err(check) = schemas.validate_data(LOCATED_TYPE, LOCATED_SCHEMA, &data) {
                panic!("{} is not valid: {check:?}\n{data:#}", unit.family_ref());
            }
            // Envelopes stay under 64 KiB; leave room for the envelope.
            assert!(serde_json::to_vec(&data)?.len() < 32 * 1024);
        }
    }
    Ok(())
}
