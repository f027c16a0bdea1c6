//! The capsim command line: parse, call the library, print. Bad input exits 2 with one line
//! naming the file, key and problem; other failures exit 1.

use anyhow::Context;
use capsim::error::InputError;
use capsim::{bench, hardware, live, output, scenario};
use clap::{Parser, Subcommand};
use rayon::prelude::*;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "capsim",
    version,
    about = "Capacity planning for LLM serving: simulate vLLM and llama.cpp servers in seconds"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
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
        /// Simulate only shard K of N of the sweep (points i with i mod N = K − 1); put the
        /// shards' --out folders together with `capsim merge`.
        #[arg(long, value_name = "K/N")]
        shard: Option<String>,
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
        /// Objectives, e.g. --slo 'p99_ttft_ms<=500' --slo 'failed==0'.
        #[arg(long = "slo", value_name = "EXPR", required = true)]
        slos: Vec<String>,
        /// replicas | rate | concurrency | input_tokens.
        #[arg(long)]
        find: String,
        /// Seeds each candidate must pass at.
        #[arg(long, default_value_t = 3)]
        seeds: u32,
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
enum HardwareCommand {
    /// List the GPUs with their datasheet figures.
    List {
        #[arg(long)]
        json: bool,
    },
}

/// A spot run that ended before its plan: exit 130 after Ctrl-C, 1 otherwise.
#[derive(Debug)]
struct StoppedEarly {
    interrupted: bool,
    message: String,
}

impl std::fmt::Display for StoppedEarly {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for StoppedEarly {}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            if let Some(input) = err.downcast_ref::<InputError>() {
                eprintln!("capsim: error: {input}");
                ExitCode::from(2)
            } else if let Some(stopped) = err.downcast_ref::<StoppedEarly>() {
                eprintln!("capsim: {stopped}");
                ExitCode::from(if stopped.interrupted { 130 } else { 1 })
            } else {
                eprintln!("capsim: error: {err:#}");
                ExitCode::from(1)
            }
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Simulate {
            scenario: path,
            sets,
            json,
            out,
            shard,
        } => simulate(path, &sets, json, out, shard),
        Command::Report {
            results,
            out,
            title,
        } => {
            let (series, traces) = capsim::report::load(&results)?;
            let title = title.unwrap_or_else(|| {
                format!(
                    "capsim report: {}",
                    series
                        .iter()
                        .map(|s| s.name.as_str())
                        .chain(traces.iter().map(|t| t.name.as_str()))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            });
            let path = capsim::report::write(&series, &traces, &title, &out)
                .map_err(|e| anyhow::anyhow!("writing the report: {e}"))?;
            println!("report written to {}", path.display());
            Ok(())
        }
        Command::Merge { shards, out } => merge(&shards, &out),
        Command::Spot {
            scenario: path,
            url,
            model,
            sets,
            out,
            json,
        } => spot(path, &url, model, &sets, out, json),
        Command::Calibrate {
            out,
            project: Some(profile),
            hardware: Some(gpu),
            ..
        } => {
            let source = capsim::cost::Profile::load(&profile)?;
            let device = capsim::hardware::lookup(&gpu).ok_or_else(|| {
                InputError::new(
                    "--hardware",
                    format!(
                        "unknown GPU '{gpu}'; known: {}",
                        capsim::hardware::names().join(", ")
                    ),
                )
            })?;
            let projected = capsim::calibrate::project(&source, &device)?;
            projected
                .save(&out)
                .with_context(|| format!("writing the profile {}", out.display()))?;
            println!(
                "profile {} written to {} (provenance: projected from {} to {})",
                projected.name,
                out.display(),
                source.measured_on.hardware.as_deref().unwrap_or("?"),
                device.name
            );
            Ok(())
        }
        Command::Calibrate {
            url,
            from,
            out,
            budget,
            scenario: scenario_path,
            sets,
            model,
            n_ubatch,
            ..
        } => calibrate(
            url,
            from,
            out,
            budget,
            scenario_path,
            &sets,
            model,
            n_ubatch,
        ),
        Command::Validate {
            scenario: path,
            runs,
            sets,
            json,
        } => {
            let overrides = parse_sets(&sets)?;
            let runs = capsim::calibrate::runs::load(&runs)?;
            let points = capsim::validate::validate(&path, &overrides, &runs)?;
            emit(json, &capsim::validate::table(&points), &points)
        }
        Command::Plan {
            scenario: path,
            slos,
            find,
            seeds,
            shard,
            sets,
            json,
        } => {
            use capsim::analysis::{plan, slo::Slo};
            let slos = slos
                .iter()
                .map(|s| Slo::parse(s))
                .collect::<Result<Vec<_>, _>>()?;
            let find = plan::Find::parse(&find)?;
            let overrides = parse_sets(&sets)?;
            let shard = shard
                .map(|s| capsim::shard::Shard::parse(&s))
                .transpose()?
                .unwrap_or(capsim::shard::Shard::ALL);
            let started = std::time::Instant::now();
            let bar = output::progress(0, "candidates");
            let results =
                plan::plan_sweep(&path, &overrides, &slos, find, seeds, shard, &|what| {
                    bar.inc_length(1);
                    bar.inc(1);
                    bar.set_message(what.to_string());
                })?;
            bar.finish_and_clear();
            let mut human = String::new();
            for result in &results {
                if results.len() > 1 || !result.point.is_empty() {
                    let at: Vec<String> = result
                        .point
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect();
                    human.push_str(&format!("point {}: ", at.join(", ")));
                }
                match &result.answer {
                    Some(a) => human.push_str(&format!(
                        "{}: {a} ({} = {:+.1}% from its limit; binding SLO)\n",
                        result.find,
                        result.binding.as_deref().unwrap_or("-"),
                        result.margin_pct.unwrap_or(f64::NAN) + 0.0
                    )),
                    None => human.push_str(&format!(
                        "{}: no value meets {}\n",
                        result.find,
                        result.slo.join(", ")
                    )),
                }
                for n in &result.notes {
                    human.push_str(&format!("note: {n}\n"));
                }
            }
            let candidates: usize = results.iter().map(|r| r.evaluated.len()).sum();
            human.push_str(&format!(
                "{candidates} candidates simulated at {} seed(s) each in {:.2} s\n",
                seeds.max(1),
                started.elapsed().as_secs_f64()
            ));
            if results.len() == 1 && shard.is_all() && results[0].point.is_empty() {
                emit(json, &human, &results[0])
            } else {
                emit(json, &human, &results)
            }
        }
        Command::Hardware {
            command: HardwareCommand::List { json },
        } => {
            let all = hardware::all();
            if json {
                println!("{}", serde_json::to_string_pretty(&all)?);
                return Ok(());
            }
            println!(
                "{:<10} {:>8} {:>9} {:>10} {:>10} {:>4} {:>7} {:>5} {:>10}",
                "gpu",
                "mem GiB",
                "BW GB/s",
                "16b TFLOPS",
                "8b TFLOPS",
                "fp8",
                "L2 MiB",
                "PCIe",
                "NVLink GB/s"
            );
            for d in &all {
                println!(
                    "{:<10} {:>8.1} {:>9.0} {:>10.1} {:>10.1} {:>4} {:>7.1} {:>5} {:>10}",
                    d.name,
                    d.memory_gib,
                    d.bandwidth_gb_s,
                    d.tflops_16bit,
                    d.tflops_8bit,
                    if d.has_fp8 { "yes" } else { "no" },
                    d.l2_mib,
                    format!("gen{}", d.pcie_gen),
                    d.nvlink_gb_s.map_or("-".to_string(), |v| format!("{v:.0}")),
                );
            }
            println!("\nSources (dense figures; 16b = FP16/BF16 with FP32 accumulate; NVLink per direction):");
            for d in &all {
                println!("  {}: {}", d.name, d.source);
            }
            println!("  custom: set hardware.gpu = \"custom\" with memory_gib, bandwidth_gb_s, tflops_16bit (e.g. a CPU host running llama.cpp)");
            Ok(())
        }
        Command::Bench {
            requests,
            repeats,
            loadgen,
            json,
        } => {
            let results = if loadgen {
                vec![bench::run_loadgen(requests.min(1_000_000), 64)?]
            } else {
                bench::run(requests, repeats)?
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&results)?);
            } else {
                for r in &results {
                    if r.steps > 0 {
                        println!(
                            "{}: {} requests, {} engine steps in {:.1} ms ({:.1} ms with percentiles) = {:.0} simulated requests/s",
                            r.name, r.requests, r.steps, r.simulate_s * 1e3, r.total_s * 1e3, r.requests_per_s
                        );
                    } else {
                        println!(
                            "{}: {} requests in {:.2} s = {:.0} requests/s",
                            r.name, r.requests, r.simulate_s, r.requests_per_s
                        );
                    }
                }
            }
            Ok(())
        }
    }
}

/// With `--json`: the document on stdout and the human text on stderr; otherwise the text.
fn emit(json: bool, human: &str, document: &impl serde::Serialize) -> anyhow::Result<()> {
    if json {
        eprint!("{human}");
        println!("{}", serde_json::to_string_pretty(document)?);
    } else {
        print!("{human}");
    }
    Ok(())
}

fn parse_sets(sets: &[String]) -> Result<Vec<scenario::Override>, InputError> {
    sets.iter().map(|s| scenario::parse_set(s)).collect()
}

#[allow(clippy::too_many_arguments)]
fn calibrate(
    url: Option<String>,
    from: Vec<PathBuf>,
    out: PathBuf,
    budget: f64,
    scenario_path: Option<PathBuf>,
    sets: &[String],
    model: Option<String>,
    n_ubatch: u32,
) -> anyhow::Result<()> {
    use capsim::calibrate::{self, fit, probe, runs};
    use capsim::cost::coefficients::{MeasuredOn, Provenance};
    let scenario = match &scenario_path {
        Some(p) => Some(scenario::load(p, &parse_sets(sets)?)?.remove(0)),
        None => None,
    };
    if !(budget.is_finite() && budget > 0.0) {
        return Err(InputError::new(
            "--budget",
            format!("must be a positive number of seconds (got {budget})"),
        )
        .into());
    }
    let name = out
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "profile".into());
    let (fitted, provenance, measured_on, notes) = match (url, from.is_empty()) {
        (Some(url), true) => {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(
                    InputError::new("--url", format!("'{url}' is not an http:// URL")).into(),
                );
            }
            eprintln!("calibrate: probing {url} for at most {budget:.0} s");
            let probed = probe::probe(&probe::ProbeOptions {
                url: url.clone(),
                model,
                budget: std::time::Duration::from_secs_f64(budget),
                n_ubatch,
                // Fresh prompts every calibration, so no server cache answers a probe.
                seed: std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos() as u64),
            })?;
            let fitted = fit::fit(&probed.observations, probed.request_latency_ms)
                .map_err(|e| anyhow::anyhow!("cannot fit the step model: {e}"))?;
            let provenance = Provenance {
                kind: "measured".into(),
                server: Some(probed.server.kind.clone()),
                server_version: probed.server.version.clone(),
                date: Some(calibrate::today()),
                notes: Some(format!(
                    "probed {url} ({} requests, {:.1} s)",
                    probed.requests,
                    probed.elapsed.as_secs_f64()
                )),
            };
            let measured_on = MeasuredOn {
                hardware: None,
                model: Some(probed.model.clone()),
                engine: Some(probed.server.kind.clone()),
                weight_dtype: None,
            };
            (fitted, provenance, measured_on, probed.notes)
        }
        (None, false) => {
            let recorded = runs::load(&from)?;
            let observations = runs::observations(&recorded);
            let fitted = fit::fit(&observations, 0.0).map_err(|e| {
                InputError::new(
                    "--from",
                    format!("cannot fit the step model from these runs: {e}"),
                )
            })?;
            let server = recorded
                .iter()
                .find_map(|r| r.metadata.as_ref().map(|m| m.server.clone()));
            let provenance = Provenance {
                kind: "measured".into(),
                server: server.as_ref().map(|s| s.kind.clone()),
                server_version: server.as_ref().and_then(|s| s.version.clone()),
                date: Some(calibrate::today()),
                notes: Some(format!("fitted from {} recorded run(s)", recorded.len())),
            };
            let measured_on = MeasuredOn {
                hardware: None,
                model: recorded
                    .iter()
                    .find_map(|r| r.metadata.as_ref().map(|m| m.model.clone())),
                engine: server.map(|s| s.kind),
                weight_dtype: None,
            };
            let notes = vec![format!(
                "{} step observations from {} run(s)",
                observations.len(),
                recorded.len()
            )];
            (fitted, provenance, measured_on, notes)
        }
        _ => {
            return Err(InputError::new(
                "calibrate",
                "give either --url URL (a live server) or --from RUNS... (recorded runs)",
            )
            .into())
        }
    };
    let profile = calibrate::profile_from_fit(
        &name,
        fitted,
        provenance,
        measured_on,
        scenario.as_ref(),
        notes,
    );
    profile
        .save(&out)
        .with_context(|| format!("writing the profile {}", out.display()))?;
    let step = profile
        .step
        .as_ref()
        .expect("a fitted profile has a step model");
    let se = |k: &str| profile.step_stderr.get(k).copied().unwrap_or(0.0);
    println!("profile {} written to {}", profile.name, out.display());
    println!(
        "  overhead            {:>10.4} ms      ± {:.4}",
        step.overhead_ms,
        se("overhead_ms")
    );
    println!(
        "  per sequence        {:>10.4} ms      ± {:.4}",
        step.per_seq_ms,
        se("per_seq_ms")
    );
    println!(
        "  weights per pass    {:>10.4} ms      ± {:.4}",
        step.weights_ms_per_pass,
        se("weights_ms_per_pass")
    );
    println!(
        "  KV read per token   {:>10.4} ns      ± {:.4}",
        step.kv_ns_per_token,
        se("kv_ns_per_token")
    );
    println!(
        "  compute per token   {:>10.4} us      ± {:.4}",
        step.compute_us_per_token,
        se("compute_us_per_token")
    );
    println!(
        "  attention per pair  {:>10.4} ns      ± {:.4}",
        step.attention_ns_per_pair,
        se("attention_ns_per_pair")
    );
    println!("  request latency     {:>10.4} ms", step.request_latency_ms);
    if let Some(c) = &profile.coefficients {
        println!(
            "  efficiencies vs datasheet: bandwidth {:.3}, compute {:.3}",
            c.bw_efficiency.value, c.flops_efficiency.value
        );
    }
    if let Some(fit) = &profile.fit {
        println!(
            "  fit: {} observations, R² {:.4}, RMS residual {:.3} ms",
            fit.observations, fit.r2, fit.rms_residual_ms
        );
        for n in &fit.notes {
            println!("  note: {n}");
        }
    }
    Ok(())
}

fn spot(
    path: PathBuf,
    url: &str,
    model: Option<String>,
    sets: &[String],
    out: Option<PathBuf>,
    json: bool,
) -> anyhow::Result<()> {
    let overrides = parse_sets(sets)?;
    let points = scenario::load(&path, &overrides)?;
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(InputError::new("--url", format!("'{url}' is not an http:// URL")).into());
    }
    let dir = out.unwrap_or_else(|| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        PathBuf::from("capsim-runs").join(format!("{}-{now}", points[0].name))
    });
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut summaries = Vec::new();
    let mut metadata = Vec::new();
    let mut aborted = None;
    for (i, point) in points.iter().enumerate() {
        let name = if points.len() == 1 {
            "records.jsonl".to_string()
        } else {
            format!("records-{i:03}.jsonl")
        };
        let mut opts = live::SpotOptions::new(url, dir.join(name));
        opts.model = model.clone();
        if points.len() > 1 {
            let at: Vec<String> = point
                .point
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            eprintln!("point {}/{}: {}", i + 1, points.len(), at.join(", "));
        }
        let run = live::spot(point, &opts)?;
        if run.metadata.token_mismatches > 0 {
            eprintln!(
                "capsim: warning: {} requests generated a different number of tokens than asked (does the server honour ignore_eos and max_tokens?)",
                run.metadata.token_mismatches
            );
        }
        summaries.push(run.summary);
        aborted = aborted.or(run.metadata.aborted.clone());
        metadata.push(run.metadata);
        // Keep the summary and metadata current after every point.
        std::fs::write(
            dir.join("summary.json"),
            serde_json::to_string_pretty(&summaries)? + "\n",
        )?;
        std::fs::write(
            dir.join("metadata.json"),
            serde_json::to_string_pretty(&metadata)? + "\n",
        )?;
        if aborted.is_some() {
            break;
        }
    }
    let m = &metadata[0];
    let header = format!(
        "{}: measured at {} ({}{}, model {}, {} api)\n",
        points[0].name,
        m.url,
        m.server.kind,
        m.server
            .version
            .as_ref()
            .map(|v| format!(" {v}"))
            .unwrap_or_default(),
        m.model,
        m.api
    );
    emit(
        json,
        &format!("{header}{}", output::table(&summaries)),
        &summaries,
    )?;
    eprintln!(
        "records, summary.json and metadata.json in {}",
        dir.display()
    );
    if let Some(why) = aborted {
        return Err(StoppedEarly {
            interrupted: why.starts_with("interrupted"),
            message: format!(
                "the spot run stopped early: {why}; what was measured is in {}",
                dir.display()
            ),
        }
        .into());
    }
    Ok(())
}

fn simulate(
    path: PathBuf,
    sets: &[String],
    json: bool,
    out: Option<PathBuf>,
    shard: Option<String>,
) -> anyhow::Result<()> {
    use capsim::scenario::capacity::Capacity;
    use capsim::shard::{Shard, ShardFile};
    let overrides = parse_sets(sets)?;
    let shard = shard
        .map(|s| Shard::parse(&s))
        .transpose()?
        .unwrap_or(Shard::ALL);
    let all = scenario::load(&path, &overrides)?;
    let indices = shard.indices(all.len());
    if indices.is_empty() {
        return Err(InputError::new(
            "--shard",
            format!(
                "shard {}/{} holds no points: the sweep has {}",
                shard.shard,
                shard.of,
                all.len()
            ),
        )
        .into());
    }
    let points: Vec<&scenario::Scenario> = indices.iter().map(|&i| &all[i]).collect();
    for w in points[0].workload.all_classes() {
        for warning in &w.warnings {
            eprintln!("capsim: warning: {warning}");
        }
    }
    // Points are independent and each is seeded: running them in parallel keeps the output
    // identical to a serial run.
    let bar = output::progress(points.len() as u64, "points simulated");
    let results: Vec<scenario::PointResult> = points
        .par_iter()
        .map(|p| {
            let r = p.simulate();
            bar.inc(1);
            r
        })
        .collect();
    bar.finish_and_clear();
    let summaries: Vec<_> = results.iter().map(|r| r.summary.clone()).collect();
    let capacities: Vec<Capacity> = points.iter().map(|p| Capacity::of(p)).collect();
    let first = points[0];
    let mut header = format!(
        "{}: {} on {}{} ({}), {} replica(s); cost model: {}\n",
        first.name,
        first.model.name,
        if first.cost.tp.degree > 1 {
            format!("{}x ", first.cost.tp.degree)
        } else {
            String::new()
        },
        first.device.name,
        match &first.engine {
            scenario::EngineSpec::Vllm { flavor, config } => format!(
                "{flavor}: max_num_seqs {}, budget {} tokens, KV {} tokens, max_model_len {}",
                config.max_num_seqs,
                config.max_num_batched_tokens,
                config.kv_capacity_tokens,
                config.max_model_len
            ),
            scenario::EngineSpec::LlamaCpp(c) => format!(
                "llama.cpp: {} slots x {} tokens, n_batch {}, n_ubatch {}",
                c.parallel,
                c.slot_context(),
                c.n_batch,
                c.n_ubatch
            ),
        },
        first.replicas,
        first.cost_source
    );
    let mut seen = Vec::new();
    for c in &capacities {
        if seen.contains(&c.summary) {
            continue;
        }
        seen.push(c.summary.clone());
        let at: Vec<String> = c.point.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let varies = capacities
            .iter()
            .any(|x| x.summary != capacities[0].summary);
        if varies && !at.is_empty() {
            header.push_str(&format!("capacity at {}: {}\n", at.join(", "), c.summary));
        } else {
            header.push_str(&format!("capacity: {}\n", c.summary));
        }
        if seen.len() == 6 && capacities.len() > 6 {
            header.push_str("capacity: … (every point in capacity.json with --out)\n");
            break;
        }
    }
    // Per class and per turn, and agent tasks, where the workload has that structure.
    let mut breakdowns = Vec::new();
    let mut task_stats = Vec::new();
    let mut structure = String::new();
    for (p, r) in points.iter().zip(&results) {
        if !p.workload.has_structure() {
            continue;
        }
        let b = capsim::analysis::breakdown::breakdown(&p.point, "simulated", &r.records);
        if !b.is_empty() {
            structure.push_str(&format!("by class and turn:\n{}", output::table(&b)));
        }
        breakdowns.extend(b);
        let names: Vec<&str> = p.workload.all_classes().map(|w| w.name.as_str()).collect();
        for t in capsim::analysis::breakdown::tasks(&r.records) {
            let class = match &t.class {
                Some(c) => names.iter().position(|n| n == c).unwrap_or(0),
                None => 0,
            };
            let solo = p.solo_task_s(class);
            structure.push_str(&format!(
                "tasks{}: {} done ({} failed), mean {:.2} s{}; all done after {:.2} s{}; effective {:.1} output tok/s, {:.1} per task; {:.0}% of prompt tokens from the prefix cache\n",
                t.class.as_ref().map(|c| format!(" ({c})")).unwrap_or_default(),
                t.tasks,
                t.failed_tasks,
                t.mean_task_s,
                solo.map(|s| format!(" (alone {s:.2} s: contention {:.2}x)", t.mean_task_s / s))
                    .unwrap_or_default(),
                t.batch_completion_s,
                solo.map(|s| format!(" (one after another, alone: {:.2} s)", s * t.tasks as f64))
                    .unwrap_or_default(),
                t.effective_output_throughput,
                t.mean_task_output_throughput,
                t.cached_share * 100.0,
            ));
            let mut v = serde_json::to_value(&t)?;
            v["point"] = serde_json::Value::Object(p.point.clone());
            if let Some(s) = solo {
                v["solo_task_s"] = s.into();
            }
            task_stats.push(v);
        }
    }
    // Knee and plateau need the whole sweep: a shard leaves them to `capsim merge`.
    let analysis =
        (summaries.len() > 1 && shard.is_all()).then(|| capsim::analysis::analyse(&summaries));
    let described = analysis.as_ref().map(|a| a.describe()).unwrap_or_default();
    emit(
        json,
        &format!(
            "{header}{}{described}{structure}",
            output::table(&summaries)
        ),
        &summaries,
    )?;
    if let Some(dir) = out {
        let records: Vec<&[capsim::metrics::RequestRecord]> =
            results.iter().map(|r| r.records.as_slice()).collect();
        let mut written = output::write_results(&dir, &summaries, &records, &indices, all.len())
            .with_context(|| format!("writing results to {}", dir.display()))?;
        let mut extra: Vec<(&str, String)> =
            vec![("capacity.json", serde_json::to_string_pretty(&capacities)?)];
        if let Some(a) = &analysis {
            extra.push(("analysis.json", serde_json::to_string_pretty(a)?));
        }
        if !breakdowns.is_empty() {
            extra.push(("breakdown.json", serde_json::to_string_pretty(&breakdowns)?));
        }
        if !task_stats.is_empty() {
            extra.push(("tasks.json", serde_json::to_string_pretty(&task_stats)?));
        }
        if !shard.is_all() {
            let meta = ShardFile {
                shard,
                points: all.len(),
                indices: indices.clone(),
            };
            extra.push(("shard.json", serde_json::to_string_pretty(&meta)?));
        }
        for (name, text) in extra {
            let path = dir.join(name);
            std::fs::write(&path, text + "\n")
                .with_context(|| format!("writing {}", path.display()))?;
            written.push(path);
        }
        eprintln!("wrote {} files to {}", written.len(), dir.display());
    }
    Ok(())
}

/// `capsim merge`: shard folders of a simulation, or the JSON of sharded plans.
fn merge(shards: &[PathBuf], out: &std::path::Path) -> anyhow::Result<()> {
    if shards.iter().all(|p| p.is_dir()) {
        let summaries = capsim::shard::merge_results(shards, out)?;
        let mut text = output::table(&summaries);
        if summaries.len() > 1 {
            let a = capsim::analysis::analyse(&summaries);
            text.push_str(&a.describe());
            std::fs::write(
                out.join("analysis.json"),
                serde_json::to_string_pretty(&a)? + "\n",
            )?;
        }
        print!("{text}");
        eprintln!(
            "merged {} shard(s), {} points, into {}",
            shards.len(),
            summaries.len(),
            out.display()
        );
        return Ok(());
    }
    let merged = capsim::analysis::plan::merge_json(shards)?;
    std::fs::write(out, serde_json::to_string_pretty(&merged)? + "\n")
        .with_context(|| format!("writing {}", out.display()))?;
    eprintln!(
        "merged {} plan shard(s), {} points, into {}",
        shards.len(),
        merged.len(),
        out.display()
    );
    Ok(())
}
