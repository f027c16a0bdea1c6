//! The capsim command line: parse (`cli.rs`), call one study, render, exit. Bad input exits 2
//! with one line naming the file, key and problem; a spot run stopped by Ctrl-C exits 130;
//! other failures exit 1.

mod cli;

use anyhow::Context;
use capsim::error::InputError;
use capsim::spec;
use capsim::study::{self, simulate::Keep};
use capsim::{analysis, calibrate, render};
use clap::Parser;
use cli::{http_url, parse_sets, shard, Cli, Command, HardwareCommand};
use std::process::ExitCode;

/// A spot run that ended before its plan: exit 130 after Ctrl-C, 1 otherwise.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
struct StoppedEarly {
    interrupted: bool,
    message: String,
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
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

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Simulate {
            scenario,
            sets,
            json,
            out,
            shard: sh,
        } => {
            let all = spec::load(&scenario, &parse_sets(&sets)?)?;
            let sh = shard(sh)?;
            let bar =
                render::table::progress(sh.indices(all.len()).len() as u64, "points simulated");
            let keep = if out.is_some() {
                Keep::Records
            } else {
                Keep::Summary
            };
            let st = study::simulate::study(all, sh, keep, &|| bar.inc(1))?;
            bar.finish_and_clear();
            for w in &st.warnings {
                eprintln!("capsim: warning: {w}");
            }
            emit(json, &render::simulate::text(&st), &st.summaries())?;
            if let Some(dir) = out {
                let written = st
                    .folder
                    .write(&dir)
                    .with_context(|| format!("writing results to {}", dir.display()))?;
                eprintln!("wrote {} files to {}", written.len(), dir.display());
            }
            Ok(())
        }
        Command::Report {
            results,
            out,
            title,
        } => {
            let (series, traces) = render::report::load(&results)?;
            let title = title.unwrap_or_else(|| render::report::default_title(&series, &traces));
            let path = render::report::write(&series, &traces, &title, &out)
                .map_err(|e| anyhow::anyhow!("writing the report: {e}"))?;
            println!("report written to {}", path.display());
            Ok(())
        }
        Command::Merge { shards, out } => {
            let merged = study::merge(&shards, &out)?;
            print!("{}", render::table::merged(&merged));
            eprintln!("merged {} shard(s) into {}", shards.len(), out.display());
            Ok(())
        }
        Command::Spot {
            scenario,
            url,
            model,
            sets,
            out,
            json,
        } => {
            let specs = spec::load(&scenario, &parse_sets(&sets)?)?;
            http_url(&url)?;
            let dir = out.unwrap_or_else(|| study::spot::default_dir(&specs[0].name));
            let n = specs.len();
            let st = study::spot::spot(&specs, &url, model, &dir, &|i, s| {
                if n > 1 {
                    eprintln!("point {}/{n}: {}", i + 1, s.point.label());
                }
            })?;
            if st.token_mismatches > 0 {
                eprintln!("capsim: warning: {} requests generated a different number of tokens than asked (does the server honour ignore_eos and max_tokens?)", st.token_mismatches);
            }
            emit(
                json,
                &render::table::spot(&specs[0].name, &st.folder),
                &st.folder.summaries(),
            )?;
            eprintln!(
                "records, summary.json and metadata.json in {}",
                dir.display()
            );
            match st.aborted {
                Some(why) => Err(StoppedEarly {
                    interrupted: why.starts_with("interrupted"),
                    message: format!(
                        "the spot run stopped early: {why}; what was measured is in {}",
                        dir.display()
                    ),
                }
                .into()),
                None => Ok(()),
            }
        }
        Command::Calibrate {
            out,
            project: Some(profile),
            hardware: Some(gpu),
            ..
        } => {
            let (source, projected) = calibrate::project_file(&profile, &gpu)?;
            projected
                .save(&out)
                .with_context(|| format!("writing the profile {}", out.display()))?;
            println!(
                "profile {} written to {} (provenance: projected from {} to {gpu})",
                projected.name,
                out.display(),
                source.measured_on.hardware.as_deref().unwrap_or("?"),
            );
            Ok(())
        }
        Command::Calibrate {
            url,
            from,
            out,
            budget,
            scenario,
            sets,
            model,
            n_ubatch,
            ..
        } => {
            // The scenario gives the model and datasheet; its own [calibration] (perhaps the
            // profile being written) is left out.
            let scenario = match &scenario {
                Some(p) => {
                    Some(spec::load(p, &spec::without_calibration(parse_sets(&sets)?))?.remove(0))
                }
                None => None,
            };
            let name = out
                .file_stem()
                .map_or("profile".into(), |s| s.to_string_lossy().into_owned());
            let profile = match (url, from.is_empty()) {
                (Some(url), true) => {
                    http_url(&url)?;
                    let opts = calibrate::probe::ProbeOptions::new(url, model, budget, n_ubatch)?;
                    eprintln!("calibrate: probing {} for at most {budget:.0} s", opts.url);
                    calibrate::from_server(&opts, &name, scenario.as_ref())?
                }
                (None, false) => calibrate::from_runs(
                    &capsim::results::runs::load(&from)?,
                    &name,
                    scenario.as_ref(),
                )?,
                _ => {
                    let problem =
                        "give either --url URL (a live server) or --from RUNS... (recorded runs)";
                    return Err(InputError::new("calibrate", problem).into());
                }
            };
            profile
                .save(&out)
                .with_context(|| format!("writing the profile {}", out.display()))?;
            print!("{}", render::profile::text(&profile, &out));
            Ok(())
        }
        Command::Validate {
            scenario,
            runs,
            sets,
            json,
        } => {
            let base = spec::load(&scenario, &parse_sets(&sets)?)?.remove(0);
            let points = study::validate::validate(&base, &capsim::results::runs::load(&runs)?)?;
            emit(json, &render::validate::table(&points), &points)
        }
        Command::Plan {
            scenario,
            slos,
            find,
            seeds,
            shard: sh,
            sets,
            json,
        } => {
            let slos = slos
                .iter()
                .map(|s| analysis::slo::Slo::parse(s))
                .collect::<Result<Vec<_>, _>>()?;
            let find = study::plan::Find::parse(&find)?;
            let (started, sh) = (std::time::Instant::now(), shard(sh)?);
            let bar = render::table::progress(0, "candidates");
            let results = study::plan::plan_sweep(
                &scenario,
                &parse_sets(&sets)?,
                &slos,
                find,
                seeds,
                sh,
                &|what| {
                    bar.inc_length(1);
                    bar.inc(1);
                    bar.set_message(what.to_string());
                },
            )?;
            bar.finish_and_clear();
            let human = render::plan::text(&results, seeds, started.elapsed().as_secs_f64());
            if results.len() == 1 && sh.is_all() && results[0].point.is_empty() {
                emit(json, &human, &results[0])
            } else {
                emit(json, &human, &results)
            }
        }
        Command::Priors { cv, write, report } => {
            let rows = study::corpus::load()?;
            let prepared = study::priors::prepare(&rows)?;
            let fit = (write.is_some() || report.is_some()).then(|| study::priors::fit(&prepared));
            let held = (cv || report.is_some()).then(|| study::priors::cross_validate(&prepared));
            print!(
                "{}",
                render::priors::text(&rows, fit.as_ref(), held.as_deref())
            );
            let table = fit.as_ref().map(|f| serde_json::to_string_pretty(&f.table));
            let table = table.transpose()?.map(|t| t + "\n");
            let md = fit.as_ref().zip(held.as_ref());
            let md = md.map(|(f, h)| render::priors::report(&rows, f, h));
            for (path, text) in [(write, table), (report, md)] {
                if let (Some(path), Some(text)) = (path, text) {
                    std::fs::write(&path, text)
                        .with_context(|| format!("writing {}", path.display()))?;
                    println!("wrote {}", path.display());
                }
            }
            Ok(())
        }
        Command::Hardware {
            command: HardwareCommand::List { json },
        } => {
            let all = capsim::hardware::all();
            emit(json, &render::hardware::table(&all), &all).map(|_| ())
        }
        Command::Bench {
            requests,
            repeats,
            loadgen,
            json,
        } => {
            let results = if loadgen {
                vec![study::bench::run_loadgen(requests.min(1_000_000), 64)?]
            } else {
                study::bench::run(requests, repeats)?
            };
            emit(json, &render::table::bench(&results), &results)
        }
    }
}
