//! capsim: capacity planning for LLM serving. A pure core (cost model, engine schedulers,
//! discrete-event simulation, metrics) with I/O at the edges (scenario files, CLI output).

pub mod analysis;
pub mod bench;
pub mod calibrate;
pub mod cost;
pub mod engine;
pub mod error;
pub mod hardware;
pub mod live;
pub mod metrics;
pub mod model;
pub mod output;
pub mod report;
pub mod scenario;
pub mod shard;
pub mod sim;
pub mod units;
pub mod validate;
pub mod workload;
