//! capsim: capacity planning for LLM serving. A pure core (cost model, engine schedulers,
//! discrete-event simulation, metrics) with I/O at the edges (scenario files, CLI output).

pub mod cost;
pub mod engine;
pub mod error;
pub mod hardware;
pub mod model;
pub mod units;
pub mod metrics;
pub mod sim;
pub mod workload;
pub mod scenario;
pub mod output;
pub mod bench;
