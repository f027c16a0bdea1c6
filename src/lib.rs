//! capsim: capacity planning for LLM serving. A pure core (cost model, engine schedulers,
//! discrete-event simulation, metrics) with I/O at the edges (scenario files, live servers,
//! results folders, reports).
//!
//! Layers, lowest first; a module uses only the layers below it (docs/ARCHITECTURE.md, checked
//! by `tests/layers.rs`):
//! units, error, http → model, hardware → cost, workload, metrics → engine, analysis → sim → spec →
//! results → live → calibrate → study → render → (the binary).

pub mod analysis;
pub mod calibrate;
pub mod cost;
pub mod engine;
pub mod error;
pub mod hardware;
pub mod http;
pub mod live;
pub mod metrics;
pub mod model;
pub mod render;
pub mod results;
pub mod sim;
pub mod spec;
pub mod study;
pub mod units;
pub mod workload;
