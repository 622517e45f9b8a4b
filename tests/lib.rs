//! The workspace test matrix; the tests live in `matrix/`.
//!
//! This crate also compiles the code blocks of the workspace README as
//! doctests, so the README never shows code that does not build.

/// The workspace README, compiled as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
