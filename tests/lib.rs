//! The workspace test matrix; the tests live in `matrix/`.
