//! End-to-end tests of the `goodhart` binary (one test binary, as ripgrep does).
//!
//! They run the real executable on the committed sample (`data/sample`) and on
//! small organisations made by `goodhart synth`, and check outputs and exit codes.

mod bucketed;
mod cli;
mod fault;
mod harden;
mod import;
mod incremental;
mod jira;
mod privacy;
mod scan;
mod state;
mod team_finding;
mod util;
mod waste;
