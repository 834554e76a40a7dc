//! Black-box tests for Confer live in `it/`; this library is intentionally empty.
