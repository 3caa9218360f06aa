//! Agora's application layer: the CLI, the node that wires store, plugins and agents, the HTTP
//! API, the shop generator and the whole-system benchmarks. `main.rs` and the integration tests
//! both build on [`app::Node`].

pub mod app;
pub mod bench;
pub mod cli;
pub mod console;
pub mod eval;
pub mod generate;
pub mod http;
pub mod train;
