//! The scenario Homeward is demonstrated and tested with: Kazakhstan's
//! operation Zhusan in three rounds, Uzbekistan's Mehr-1 from the same camps
//! at the same time, and one Kazakh family carried home on Tajikistan's
//! flight in transit. Zhusan carried 516 people home, 357 of them
//! children: 47 in January, 231 in early May, 238 women and children at the
//! end of May; Mehr-1 carried 156, 106 of them children.
//!
//! Every person in it is synthetic. Names are put together from lists of
//! common given names and family-name stems, so none is a real person's.
//!
//! # Layout
//! - [`population`]: the deterministic population generator: who is in the
//!   camps, in which family units, on which operation and round, and what
//!   the replay will decide for each (screening, passports). Its census is
//!   what the camp registry imports.
//!
//! Each round's figures are those public reporting gave (and the tests
//! assert them exactly); the seed only changes who the people are.

pub mod population;
