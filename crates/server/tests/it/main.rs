//! The server's SDK tests as one test binary: each file under tests/ would be its own binary
//! linking the whole AWS SDK, which made linking most of the test build's time.
//!
//! To add tests, put them in `tests/it/NAME.rs`, add `mod NAME;` below, and write
//! `use crate::common;` in the file for the helpers. Run one file's tests with
//! `cargo test -p flywheel-server --test it NAME::`.

#[path = "../common/mod.rs"]
mod common;

mod auth;
mod indexes_streams;
mod linearizability;
mod paging;
mod sdk;
mod tools;
mod torture;
