//! The capsim command line: parse (`cli.rs`), call one study, render, exit. Bad input exits 2
//! with one line naming the file, key and problem; a plan whose SLOs no candidate meets exits
//! 3; a spot run stopped by Ctrl-C exits 130; other failures exit 1.

mod cli;
mod commands;

use anyhow::Context;
use capsim::error::InputError;
use capsim::spec;
use capsim::study::{self, simulate::Keep};
use capsim::{analysis, render};
use clap::Parser;
use cli::{http_url, parse_sets, shard, Cli, Command};
use std::process::ExitCode;

/// No candidate meets a plan's SLOs: exit 3 (the input was fine; the answer is "none").
#[derive(Debug, thiserror::Error)]
#[error("the SLOs cannot be met: {0}")]
struct Unmet(String);

/// A spot run that ended before its plan: exit 130 after Ctrl-C, 1 otherwise.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
struct StoppedEarly {
    interrupted: bool,
    message: String,
}

fn main() -> ExitCode {
    // Output piped into a reader that stops early (`| head`) ends capsim quietly, as it does
    // other Unix tools, not with a panic in `print!` (Rust's runtime ignores SIGPIPE).
    // SAFETY: called first, before any thread exists; SIG_DFL is a valid disposition.
    #[cfg(unix)]
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            if let Some(input) = err.downcast_ref::<InputError>() {
                eprintln!("capsim: error: {input}");
                ExitCode::from(2)
            } else if let Some(unmet) = err.downcast_ref::<Unmet>() {
                eprintln!("capsim: {unmet}");
                ExitCode::from(3)
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
pub(crate) fn emit(
    json: bool,
    human: &str,
    document: &impl serde::Serialize,
) -> anyhow::Result<()> {
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
            csv,
            shard: sh,
            force,
        } => {
            if let Some(dir) = &out {
                capsim::results::check_out(dir, force, capsim::results::is_own_file)?;
            }
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
            if let Some(path) = csv {
                std::fs::write(&path, render::table::csv(&st.summaries()))
                    .with_context(|| format!("writing {}", path.display()))?;
            }
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
            force,
        } => {
            capsim::results::check_out(&out, force, render::report::is_own_file)?;
            let (series, traces) = render::report::load(&results)?;
            let title = title.unwrap_or_else(|| render::report::default_title(&series, &traces));
            let path = render::report::write(&series, &traces, &title, &out)
                .map_err(|e| anyhow::anyhow!("writing the report: {e}"))?;
            println!("report written to {}", path.display());
            Ok(())
        }
        Command::Merge { shards, out, force } => {
            capsim::results::check_out(&out, force, capsim::results::is_own_file)?;
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
            force,
        } => {
            let specs = spec::load(&scenario, &parse_sets(&sets)?)?;
            http_url(&url)?;
            let dir = out.unwrap_or_else(|| study::spot::default_dir(&specs[0].name));
            capsim::results::check_out(&dir, force, capsim::results::is_own_file)?;
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
        c @ (Command::Calibrate { .. }
        | Command::Priors { .. }
        | Command::Models { .. }
        | Command::Init { .. }
        | Command::Hardware { .. }
        | Command::Bench { .. }) => commands::run(c),
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
            allow_failures,
            shard: sh,
            sets,
            json,
        } => {
            let slos: Vec<_> = slos
                .iter()
                .map(|s| analysis::slo::Slo::parse(s))
                .collect::<Result<_, _>>()?;
            let find = study::plan::Find::parse(&find)?;
            let opts = study::plan::PlanOptions {
                find,
                seeds,
                allow_failures,
            };
            let (started, sh) = (std::time::Instant::now(), shard(sh)?);
            let bar = render::table::progress(0, "candidates");
            let tick = |what: &str| {
                bar.inc_length(1);
                bar.inc(1);
                bar.set_message(what.to_string());
            };
            let results =
                study::plan::plan_sweep(&scenario, &parse_sets(&sets)?, &slos, &opts, sh, &tick)?;
            bar.finish_and_clear();
            let human = render::plan::text(&results, seeds, started.elapsed().as_secs_f64());
            if results.len() == 1 && sh.is_all() && results[0].point.is_empty() {
                emit(json, &human, &results[0])?;
            } else {
                emit(json, &human, &results)?;
            }
            results
                .iter()
                .find_map(|r| r.unmet.clone())
                .map_or(Ok(()), |m| Err(Unmet(m).into()))
        }
    }
}
