//! Priors learned from published measurements: the shipped corpus holds what issue #12 asks
//! for, the shipped prior table is exactly the fit of the shipped corpus, and leave-one-GPU-out
//! cross-validation (fit without a GPU, predict its rows as `simulate` would) is recomputed
//! here and printed row by row.
//!
//! Issue #12 asks for MAPE ≤ 15% on single-stream decode, ≤ 20% on aggregate tok/s, ≤ 30% on
//! TTFT, and ≥ 80% of held-out measurements inside their bands. This build meets the decode
//! bound (on all rows and on llama.cpp's), the aggregate bound on unsaturated rows, and the band
//! overall (and on aggregate and TTFT rows), and not the others (the closing note of issue #12 has the numbers
//! and why). Those are asserted at the level measured when the priors were fitted, so a change
//! that makes them worse fails; they are not the issue's bounds.

use capsim::cost::priors::PriorTable;
use capsim::cost::EngineFamily;
use capsim::study::corpus::{self, Kind};
use capsim::study::priors::{self, score_of, score_where};
use std::collections::BTreeSet;

#[test]
fn the_corpus_has_what_the_issue_asks_for() {
    let rows = corpus::load().unwrap();
    let used: Vec<_> = rows.iter().filter(|r| r.used()).collect();
    let gpus: BTreeSet<&str> = used
        .iter()
        .map(|r| r.setup.as_ref().unwrap().gpu.as_str())
        .collect();
    let engines: BTreeSet<&str> = used.iter().map(|r| r.engine.as_str()).collect();
    println!(
        "{} rows, {} used on {} GPUs: {gpus:?}",
        rows.len(),
        used.len(),
        gpus.len()
    );
    assert!(rows.len() >= 60 && used.len() >= 60);
    assert!(gpus.len() >= 6);
    assert_eq!(engines, BTreeSet::from(["llamacpp", "vllm"]));
    for kind in Kind::ALL {
        assert!(used.iter().any(|r| r.kind == kind), "{}", kind.name());
    }
    let prepared = priors::prepare(&rows).unwrap();
    assert!(prepared.iter().any(|p| p.key.moe) && prepared.iter().any(|p| !p.key.moe));
    assert!(prepared.iter().any(|p| p.spec.weight_dtype.bits() >= 16.0));
    assert!(prepared.iter().any(|p| p.spec.weight_dtype.bits() < 5.0));
    for r in &rows {
        assert!(r.source_url.starts_with("http"), "{}: source", r.id);
        assert!(
            !r.engine.is_empty() && !r.engine_version.is_empty(),
            "{}",
            r.id
        );
        assert!(!r.model.is_empty() && !r.quant.is_empty(), "{}", r.id);
        assert!(r.used() || r.unused.as_deref().is_some_and(|w| !w.is_empty()));
    }
}

#[test]
fn the_shipped_priors_are_the_fit_of_the_shipped_corpus() {
    let prepared = priors::prepare(&corpus::load().unwrap()).unwrap();
    let fitted = priors::fit(&prepared).table;
    let shipped = PriorTable::shipped();
    let a = serde_json::to_value(&fitted).unwrap();
    let b = serde_json::to_value(shipped).unwrap();
    assert!(
        a == b,
        "data/priors/fitted.json is stale: run `capsim priors --write data/priors/fitted.json --report reports/priors.md`"
    );
}

#[test]
fn leave_one_gpu_out_cross_validation() {
    let prepared = priors::prepare(&corpus::load().unwrap()).unwrap();
    let held = priors::cross_validate(&prepared);
    print!("{}", capsim::render::priors::cross_validation(&held));
    let llama_decode = score_of(&held, Kind::Decode, Some(EngineFamily::LlamaCpp)).unwrap();
    let decode = score_of(&held, Kind::Decode, None).unwrap();
    let aggregate = score_of(&held, Kind::Aggregate, None).unwrap();
    let light_aggregate =
        score_where(&held, |h| h.kind == Kind::Aggregate && !h.saturated).unwrap();
    let ttft = score_of(&held, Kind::Ttft, None).unwrap();
    let light_ttft = score_where(&held, |h| h.kind == Kind::Ttft && !h.saturated).unwrap();
    let inside = held.iter().filter(|h| h.inside()).count() as f64 / held.len() as f64 * 100.0;
    println!(
        "decode MAPE {:.1}% (llama.cpp {:.1}%), aggregate {:.1}% (≤ {} in flight {:.1}%, band {:.1}%), TTFT {:.1}% (≤ {} in flight {:.1}%), inside the band {inside:.1}%",
        decode.1,
        llama_decode.1,
        aggregate.1,
        priors::SATURATED,
        light_aggregate.1,
        light_aggregate.2,
        ttft.1,
        priors::SATURATED,
        light_ttft.1
    );
    // The issue's decode bound, on all rows (14.9% since a group's value is its GPUs' median,
    // one vote each) and on llama.cpp's.
    assert!(decode.1 <= 15.0, "decode MAPE {:.1}%", decode.1);
    assert!(
        llama_decode.1 <= 15.0,
        "llama.cpp decode MAPE {:.1}%",
        llama_decode.1
    );
    // The issue's aggregate bound, met on unsaturated rows.
    assert!(
        light_aggregate.1 <= 20.0,
        "unsaturated aggregate MAPE {:.1}%",
        light_aggregate.1
    );
    // The issue's band coverage, met overall and on aggregate and TTFT rows.
    assert!(inside >= 80.0, "inside the band {inside:.1}%");
    assert!(light_aggregate.2 >= 80.0, "{:.1}%", light_aggregate.2);
    assert!(aggregate.2 >= 80.0, "aggregate band {:.1}%", aggregate.2);
    assert!(ttft.2 >= 80.0, "TTFT band {:.1}%", ttft.2);
    // Regression guards at the levels measured when fitted (not the issue's bounds: see the
    // module comment).
    assert!(aggregate.1 <= 44.0, "aggregate MAPE {:.1}%", aggregate.1);
    assert!(ttft.1 <= 46.0, "TTFT MAPE {:.1}%", ttft.1);
    // 46.5% (47.8% before a group's value was its GPUs' median) since gpustack's light-load
    // H100 runs (gl-002/004/006: 59–75 ms measured, 55–80% above capsim) joined the corpus;
    // the rows it had before score 38.9%.
    assert!(
        light_ttft.1 <= 50.0,
        "unsaturated TTFT MAPE {:.1}%",
        light_ttft.1
    );
}

#[test]
fn long_prompt_runs_teach_vllm_its_compute_efficiency() {
    // Throughput runs of long prompts (≥ 1024 tokens, ≥ 10x the output) are prefill at work
    // however many requests are in flight: they set the compute efficiency, which vLLM's
    // corpus had no other row for.
    let prepared = priors::prepare(&corpus::load().unwrap()).unwrap();
    let long: Vec<_> = prepared
        .iter()
        .filter(|p| {
            let s = p.row.setup.as_ref().unwrap();
            p.row.kind == Kind::Aggregate
                && p.row.concurrency.parse::<u32>().unwrap() > priors::SATURATED
                && s.prompt >= priors::LONG_PROMPT
                && s.prompt >= priors::LONG_PROMPT_RATIO * s.output_most
        })
        .collect();
    assert!(long.len() >= 20, "{} long-prompt runs", long.len());
    assert!(long.iter().all(|p| p.param == Some(priors::Param::Compute)));
    let fit = priors::fit(&prepared);
    let implied: Vec<f64> = long
        .iter()
        .filter_map(|p| fit.implied.get(&p.row.id).and_then(|(_, x)| *x))
        .collect();
    println!("compute efficiencies implied by long-prompt runs: {implied:.3?}");
    assert_eq!(
        implied.len(),
        long.len(),
        "every long-prompt run is explained"
    );
    // The published runs put vLLM's H100 prefill well below the datasheet default (0.6).
    let hopper = fit
        .table
        .lookup(&capsim::cost::priors::PriorKey {
            family: EngineFamily::Vllm,
            arch: capsim::hardware::Arch::Hopper,
            format: capsim::cost::FormatFamily::Float,
            moe: false,
        })
        .unwrap();
    println!(
        "{}: compute efficiency {:.3}",
        hopper.label(),
        hopper.flops_efficiency
    );
    assert!(hopper.flops_efficiency < 0.5);
}
