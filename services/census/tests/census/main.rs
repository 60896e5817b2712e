//! The census format: round trips, every kind of problem with its line and
//! column, and located data valid against the published schema.

mod errors;
mod located;
mod round_trip;
mod support;
