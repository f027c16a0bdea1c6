//! The command line's arguments (clap) and their checks. Parsing only: `main.rs` dispatches.

use capsim::error::InputError;
use capsim::results::shard::Shard;
use capsim::spec::{self, Override};
use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "capsim",
    version,
    about = "Capacity planning for LLM serving: simulate vLLM and llama.cpp servers in seconds"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Simulate a scenario (every point of its sweep) and print the summary.
    Simulate {
        /// Scenario file (TOML).
        scenario: PathBuf,
        /// Override a scenario key, e.g. --set workload.concurrency=32 (VALUE is TOML).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
        /// Print exactly one JSON document (an array of summaries) on stdout; the table goes to stderr.
        #[arg(long)]
        json: bool,
        /// Write summary.json, analysis.json, capacity.json and request records (JSONL) into this folder.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Also write the summaries as CSV to FILE (one row per point).
        #[arg(long, value_name = "FILE")]
        csv: Option<PathBuf>,
        /// Simulate only shard K of N of the sweep (points i with i mod N = K − 1); put the
        /// shards' --out folders together with `capsim merge`.
        #[arg(long, value_name = "K/N")]
        shard: Option<String>,
        /// Write into a folder that holds other files too (capsim's own are replaced).
        #[arg(long)]
        force: bool,
    },
    /// Write a markdown report with charts (SVG and PNG) from results: simulate/spot --out
    /// folders, summary or validate --json files, recorded runs (capsim records, vllm bench JSON).
    Report {
        /// Results to put in the report (each becomes a series; measured ones are drawn as dots).
        #[arg(required = true, value_name = "RESULTS")]
        results: Vec<PathBuf>,
        /// Folder for report.md and its charts.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Title of the report.
        #[arg(long)]
        title: Option<String>,
        /// Write into a folder that holds other files too (capsim's own are replaced).
        #[arg(long)]
        force: bool,
    },
    /// Put the folders of a sharded `simulate --out` (or the JSON of a sharded `plan --json`)
    /// back together, in sweep order.
    Merge {
        /// Shard folders (or plan JSON files), in any order.
        #[arg(required = true, value_name = "SHARDS")]
        shards: Vec<PathBuf>,
        /// Merged results folder (or JSON file, for plans).
        #[arg(long, value_name = "PATH")]
        out: PathBuf,
        /// Write into a folder that holds other files too (capsim's own are replaced).
        #[arg(long)]
        force: bool,
    },
    /// Run the scenario's workload against a live OpenAI-compatible server and measure it.
    Spot {
        /// Scenario file (TOML); its workload and [endpoint] are used.
        scenario: PathBuf,
        /// Server base URL, e.g. http://127.0.0.1:8080.
        #[arg(long)]
        url: String,
        /// Model name to send (default: the scenario's endpoint.model, else the server's first).
        #[arg(long)]
        model: Option<String>,
        /// Override a scenario key (VALUE is TOML).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
        /// Folder for records (JSONL, written as requests end), summary.json and metadata.json.
        /// Default: capsim-runs/NAME-UNIXTIME.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Print exactly one JSON document (an array of summaries) on stdout.
        #[arg(long)]
        json: bool,
        /// Write into a folder that holds other files too (capsim's own are replaced).
        #[arg(long)]
        force: bool,
    },
    /// Fit the step-time model: probe a live server (--url) or read recorded runs (--from).
    Calibrate {
        /// Live server base URL to probe.
        #[arg(long, conflicts_with = "from")]
        url: Option<String>,
        /// Recorded runs: capsim run folders or records (JSONL), or vllm bench --save-result JSON.
        #[arg(long, num_args = 1.., value_name = "RUNS")]
        from: Vec<PathBuf>,
        /// Where to write the profile (JSON); written only when the fit succeeds.
        #[arg(long)]
        out: PathBuf,
        /// Time budget for probing a live server, seconds.
        #[arg(long, default_value_t = 180.0)]
        budget: f64,
        /// Scenario with the model shape and hardware datasheet: adds efficiencies, so the
        /// profile also projects to other GPUs and models.
        #[arg(long)]
        scenario: Option<PathBuf>,
        /// Override a key of that scenario (VALUE is TOML).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
        /// Model name to send (default: the server's first).
        #[arg(long)]
        model: Option<String>,
        /// llama.cpp physical batch (-ub) of the server, for long prompts.
        #[arg(long, default_value_t = 512)]
        n_ubatch: u32,
        /// Instead of measuring: project this profile's efficiencies to --hardware.
        #[arg(long, value_name = "PROFILE", conflicts_with_all = ["url", "from"], requires = "hardware")]
        project: Option<PathBuf>,
        /// Target GPU of --project (a name from `capsim hardware list`).
        #[arg(long)]
        hardware: Option<String>,
        /// Refuse to write a profile with warnings (a mediocre fit, efficiencies above the
        /// datasheet, coefficients the probes could not separate).
        #[arg(long)]
        strict: bool,
    },
    /// Simulate the points recorded runs measured and compare prediction with measurement.
    Validate {
        /// Scenario: model, hardware, engine, cluster and calibration (workloads come from the runs).
        scenario: PathBuf,
        /// Recorded runs: capsim run folders or records (JSONL), or vllm bench --save-result JSON.
        #[arg(long, num_args = 1.., required = true, value_name = "DIR_OR_FILE")]
        runs: Vec<PathBuf>,
        /// Override a scenario key (VALUE is TOML).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
        /// Print exactly one JSON document (an array, one element per measured point).
        #[arg(long)]
        json: bool,
    },
    /// Find the least replicas, or the most rate / concurrency / prompt length, that meets SLOs.
    Plan {
        /// Scenario file (TOML).
        scenario: PathBuf,
        /// Objectives, e.g. --slo 'p99_ttft_ms<=500' --slo 'output_throughput>=2000'.
        #[arg(long = "slo", value_name = "EXPR", required = true)]
        slos: Vec<String>,
        /// replicas | rate | concurrency | input_tokens.
        #[arg(long)]
        find: String,
        /// Seeds each candidate must pass at (at least 1).
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
        seeds: u32,
        /// Accept failed requests (by default a candidate with any failed request misses).
        #[arg(long)]
        allow_failures: bool,
        /// With a [sweep]: plan only shard K of N of its points (merge with `capsim merge`).
        #[arg(long, value_name = "K/N")]
        shard: Option<String>,
        /// Override a scenario key (VALUE is TOML).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
        /// Print exactly one JSON document on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Priors fitted from published measurements (data/corpus/): the corpus, the fitted
    /// groups a datasheet projection uses, and their leave-one-GPU-out cross-validation.
    Priors {
        /// Run the leave-one-GPU-out cross-validation (refits once per GPU: a minute or two).
        #[arg(long)]
        cv: bool,
        /// Fit the corpus and write the table to FILE (the shipped one is data/priors/fitted.json).
        #[arg(long, value_name = "FILE")]
        write: Option<PathBuf>,
        /// Write the whole report (corpus, fit, cross-validation) as markdown to FILE.
        #[arg(long, value_name = "FILE")]
        report: Option<PathBuf>,
        /// Turn a measured calibration profile into corpus rows (single-stream decode, and
        /// prefill or TTFT) appended to --to; rebuild and `--write` the priors to use them.
        #[arg(long, value_name = "PROFILE", requires = "preset", conflicts_with_all = ["cv", "write", "report"])]
        add_profile: Option<PathBuf>,
        /// With --add-profile: the model preset whose shape the profile measured.
        #[arg(long, requires = "add_profile")]
        preset: Option<String>,
        /// With --add-profile: GPUs the server ran on (tensor parallel degree).
        #[arg(long, default_value_t = 1, requires = "add_profile", value_parser = clap::value_parser!(u32).range(1..))]
        gpus: u32,
        /// With --add-profile and --gpus > 1: nvlink | pcie.
        #[arg(long, requires = "add_profile")]
        interconnect: Option<String>,
        /// With --add-profile: the measured-rows file to append to.
        #[arg(
            long,
            value_name = "FILE",
            default_value = "data/corpus/measured.csv",
            requires = "add_profile"
        )]
        to: PathBuf,
    },
    /// The model presets capsim ships (`models/`), with their shapes.
    Models {
        /// Print exactly one JSON document on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Write a commented scenario to start from, for a model, GPU, engine and workload.
    Init {
        /// A preset (`capsim models`) or a Hugging Face id (org/name).
        #[arg(long)]
        model: String,
        /// A GPU (`capsim hardware list`).
        #[arg(long)]
        gpu: String,
        /// GPUs per replica (vLLM: tensor parallel; llama.cpp: layer split).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
        gpus: u32,
        /// vllm | llamacpp.
        #[arg(long, default_value = "vllm")]
        engine: String,
        /// chat | agents | rate | long-context.
        #[arg(long, default_value = "chat")]
        workload: String,
        /// Weight format (default: bf16 for vLLM, q4_k_m for llama.cpp).
        #[arg(long)]
        weight_dtype: Option<String>,
        /// File to write (default: print the scenario).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Overwrite FILE if it exists.
        #[arg(long)]
        force: bool,
    },
    /// GPU datasheets the cost model knows.
    Hardware {
        #[command(subcommand)]
        command: HardwareCommand,
    },
    /// Measure the simulator's speed on this machine.
    Bench {
        /// Requests in the closed-loop benchmark.
        #[arg(long, default_value_t = 1_000_000)]
        requests: u64,
        /// Repeats (the best is reported).
        #[arg(long, default_value_t = 3)]
        repeats: u32,
        /// Benchmark the live load generator instead (requests against a trivial local endpoint).
        #[arg(long)]
        loadgen: bool,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub enum HardwareCommand {
    /// List the GPUs with their datasheet figures.
    List {
        #[arg(long)]
        json: bool,
    },
}

/// `--set KEY=VALUE` arguments as overrides.
pub fn parse_sets(sets: &[String]) -> Result<Vec<Override>, InputError> {
    sets.iter().map(|s| spec::parse_set(s)).collect()
}

/// `--shard K/N`, or every point.
pub fn shard(s: Option<String>) -> Result<Shard, InputError> {
    s.map(|s| Shard::parse(&s))
        .transpose()
        .map(|s| s.unwrap_or(Shard::ALL))
}

/// A server URL must be http:// or https://.
pub fn http_url(url: &str) -> Result<(), InputError> {
    if url.starts_with("http://") || url.starts_with("https://") {
        Ok(())
    } else {
        Err(InputError::new(
            "--url",
            format!("'{url}' is not an http:// URL"),
        ))
    }
}
