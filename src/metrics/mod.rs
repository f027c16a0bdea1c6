//! Request records and summaries, shared by simulations, spot runs and imported runs so that
//! prediction and measurement compare field by field. Definitions follow `vllm bench serve`:
//!
//! - TTFT: send → first token. E2EL: send → last token.
//! - TPOT: (E2EL − TTFT) / (output tokens − 1), per request with more than one output token.
//! - ITL: every gap between successive tokens, pooled over all requests.
//! - request_throughput = completed / duration; output_throughput = output tokens / duration;
//!   total_token_throughput adds input tokens.
//! - Duration: the run's window, from its start (the first scheduled send) to the moment the
//!   last request ended (answered or failed), unless the run states its own (a `vllm bench`
//!   file's `duration`).
//! - Mean in flight: Σ (end − sent) over requests / duration (Little's law on the records).
//! - Percentiles interpolate linearly between order statistics (numpy's default).
//!
//! There is one summary function, [`summarize`] (and its streaming form [`SummaryBuilder`]);
//! simulations, spot runs and importers all go through it.

mod itl;
mod point;
mod record;
mod summary;

pub use itl::ItlStats;
pub use point::{Metric, Point};
pub use record::{nan_if_null, RequestRecord};
pub use summary::{
    median, percentile_sorted, summarize, summarize_measured, Band, Quantiles, Range, RunFacts,
    Summary, SummaryBuilder, Window,
};
