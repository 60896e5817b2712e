//! The synthetic population: the reported figures exactly, whatever the
//! seed; the same seed, the same bytes; a census the camp registry can
//! import and whose messages the schema accepts.

mod census;
mod determinism;
mod figures;
mod shape;

/// Seeds the tests run over: the figures must hold for any of them.
pub const SEEDS: [u64; 4] = [1, 2019, 0x5EED, u64::MAX];
