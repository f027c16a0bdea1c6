//! The less central commands (calibrate, priors, hardware, bench): argument handling and
//! output for each, called from `main.rs`'s dispatch.

use crate::cli::{http_url, parse_sets, Command, HardwareCommand};
use crate::emit;
use anyhow::Context;
use capsim::error::InputError;
use capsim::spec;
use capsim::study;
use capsim::{calibrate, render};

/// Runs one of the commands above (anything else is a dispatch bug).
pub fn run(command: Command) -> anyhow::Result<()> {
    match command {
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
            strict,
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
            // Nonsense is refused; warnings are flags in the profile (errors under --strict).
            let profile = calibrate::checked(profile, strict)?;
            profile
                .save(&out)
                .with_context(|| format!("writing the profile {}", out.display()))?;
            // The profile's text prints its flags as `warning:` lines.
            print!("{}", render::profile::text(&profile, &out));
            Ok(())
        }
        Command::Priors {
            add_profile: Some(profile),
            preset,
            gpus,
            interconnect,
            to,
            ..
        } => add_profile(&profile, preset, gpus, interconnect, &to),
        Command::Priors {
            cv, write, report, ..
        } => {
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
        Command::Models { json } => {
            let shapes: Vec<capsim::model::ModelShape> = capsim::model::preset_names()
                .into_iter()
                .map(capsim::model::ModelShape::preset)
                .collect::<Result<_, _>>()?;
            emit(json, &render::hardware::models(&shapes), &shapes)
        }
        Command::Init {
            model,
            gpu,
            gpus,
            engine,
            workload,
            weight_dtype,
            out,
            force,
        } => {
            let text = spec::init::scenario(&spec::init::InitRequest {
                model: &model,
                gpu: &gpu,
                gpus,
                engine: &engine,
                workload: &workload,
                weight_dtype: weight_dtype.as_deref(),
            })?;
            match out {
                None => print!("{text}"),
                Some(path) => {
                    if path.exists() && !force {
                        let problem =
                            format!("{} exists (pass --force to overwrite it)", path.display());
                        return Err(InputError::new("--out", problem).into());
                    }
                    std::fs::write(&path, &text)
                        .with_context(|| format!("writing {}", path.display()))?;
                    eprintln!(
                        "wrote {}: capsim simulate {}",
                        path.display(),
                        path.display()
                    );
                }
            }
            Ok(())
        }
        _ => unreachable!("main.rs dispatches only these commands here"),
    }
}

/// `capsim priors --add-profile`: a measured profile's rows appended to the measured corpus,
/// each shown beside what the shipped priors predict for it.
fn add_profile(
    path: &std::path::Path,
    preset: Option<String>,
    gpus: u32,
    interconnect: Option<String>,
    to: &std::path::Path,
) -> anyhow::Result<()> {
    let profile = capsim::cost::coefficients::Profile::load(path)?;
    // Errors about the rows name the file they go to.
    let in_to = |e: InputError| e.in_file(to);
    let setup = study::corpus::ProfileSetup {
        preset: preset.context("--add-profile needs --preset")?,
        gpus,
        interconnect,
    };
    let existing = match std::fs::read_to_string(to) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("reading {}", to.display())),
    };
    // Ids already taken: the corpus built into this binary and the file as it is now.
    let mut taken: std::collections::BTreeSet<String> =
        study::corpus::load()?.into_iter().map(|r| r.id).collect();
    if !existing.trim().is_empty() {
        taken.extend(
            study::corpus::parse_measured(&existing)
                .map_err(in_to)?
                .into_iter()
                .map(|r| r.id),
        );
    }
    let lines =
        study::corpus::rows_from_profile(&profile, &setup, &taken).map_err(|e| e.in_file(path))?;
    let text = study::corpus::append_measured(&existing, &lines).map_err(in_to)?;
    let ids: std::collections::BTreeSet<&String> = lines.iter().map(|l| &l[0]).collect();
    let added: Vec<study::corpus::Row> = study::corpus::parse_measured(&text)
        .map_err(in_to)?
        .into_iter()
        .filter(|r| ids.contains(&r.id))
        .collect();
    let prepared = study::priors::prepare(&added)?;
    let table = capsim::cost::priors::PriorTable::shipped();
    let held: Vec<study::priors::Held> = prepared
        .iter()
        .map(|p| study::priors::predict_held(p, table))
        .collect();
    std::fs::write(to, &text).with_context(|| format!("writing {}", to.display()))?;
    print!("{}", render::priors::added(&added, &held));
    println!(
        "appended {} row(s) to {}; to fit with them: rebuild capsim, then `capsim priors --write data/priors/fitted.json --report reports/priors.md`",
        lines.len(),
        to.display()
    );
    Ok(())
}
