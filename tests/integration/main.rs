//! Integration tests: one binary, a module per feature, and a shared harness in `common`.
//! Run `cargo build --workspace` first (scripts/test.sh does) so the plugin libraries exist.

mod behaviour;
mod cli;
#[macro_use]
mod common;
mod console;
mod crash;
mod er;
mod forecast;
mod http;
mod identity;
mod ingest;
mod plugins;
mod qa;
mod recommend;
mod supervisor;
