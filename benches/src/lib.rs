//! Shared setup for the criterion benches (see `benches/benches/`).
