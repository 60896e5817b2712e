//! The matcher's tests: what a candidate list says for known cases, the
//! synthetic data the figures are measured on, and the quality figures on
//! a small seeded sample.

mod candidates;
mod quality;
mod synthetic;
