//! What people who use vllm bench and GuideLLM expect, through the binary: every input is used
//! or refused (a `--set` on a swept key replaces the sweep and says so; a tensor-parallel size
//! vLLM would refuse is refused; a workload whose users mostly never send is flagged), `--out`
//! refuses a folder of other files, `capsim models` lists every preset, `capsim init` writes a
//! scenario that simulates for every preset and engine, and a Hugging Face id resolves through a
//! local Hub and then offline from the cache.

mod common;

use common::cli::{arg, capsim, scratch, write};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

#[test]
fn a_set_on_a_swept_key_replaces_the_sweep_and_bad_values_are_refused() {
    // Before: all ten sweep points ran and the value was ignored, even -4 or abc.
    let r = capsim(&[
        "simulate",
        "scenarios/rtx4090-concurrency.toml",
        "--set",
        "workload.concurrency=32",
        "--json",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let points: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(
        points.as_array().unwrap().len(),
        1,
        "one point, not the sweep"
    );
    assert!(
        r.stderr
            .contains("replaces the sweep over workload.concurrency"),
        "{}",
        r.stderr
    );
    for bad in ["-4", "abc", "0"] {
        let r = capsim(&[
            "simulate",
            "scenarios/rtx4090-concurrency.toml",
            "--set",
            &format!("workload.concurrency={bad}"),
        ]);
        println!("concurrency={bad}: exit {}, {}", r.code, r.stderr.trim());
        assert_eq!(r.code, 2, "{bad}");
        assert!(r.stderr.contains("workload.concurrency"), "{}", r.stderr);
    }
}

#[test]
fn a_tensor_parallel_size_vllm_refuses_is_refused() {
    let dir = scratch("tp-heads");
    let sc = write(
        &dir,
        "tp3.toml",
        "[model]\npreset = \"llama-3.1-8b\"\n[hardware]\ngpu = \"rtx4090\"\ngpus_per_replica = 3\n[engine]\nkind = \"vllm\"\nmax_model_len = 4096\n[workload]\narrival = \"closed\"\nconcurrency = 1\nnum_requests = 4\ninput_tokens = 64\noutput_tokens = 16\n",
    );
    // Before: accepted (vLLM refuses 32 heads over 3 GPUs).
    let r = capsim(&["simulate", arg(&sc)]);
    println!("{}", r.stderr.trim());
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("32 attention heads"), "{}", r.stderr);
    assert_eq!(
        capsim(&["simulate", arg(&sc), "--set", "hardware.gpus_per_replica=4"]).code,
        0
    );
    // Qwen2.5-7B: 28 heads and 4 KV heads; 7 GPUs split the heads but not the KV heads.
    let r = capsim(&[
        "simulate",
        arg(&sc),
        "--set",
        "model.preset=\"qwen2.5-7b\"",
        "--set",
        "hardware.gpus_per_replica=7",
    ]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("4 KV heads"), "{}", r.stderr);
    // llama.cpp splits layers, not heads: 3 GPUs are fine.
    let llama = write(
        &dir,
        "llama3.toml",
        "[model]\npreset = \"llama-3.1-8b\"\nweight_dtype = \"q4_k_m\"\n[hardware]\ngpu = \"rtx4090\"\ngpus_per_replica = 3\n[engine]\nkind = \"llamacpp\"\n[workload]\narrival = \"closed\"\nconcurrency = 1\nnum_requests = 4\ninput_tokens = 64\noutput_tokens = 16\n",
    );
    let r = capsim(&["simulate", arg(&llama)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn users_who_never_send_are_flagged_and_large_latencies_read_in_seconds() {
    let dir = scratch("never-send");
    let sc = write(
        &dir,
        "crowd.toml",
        "[model]\npreset = \"mistral-7b\"\n[hardware]\ngpu = \"rtx4090\"\n[engine]\nkind = \"vllm\"\nmax_model_len = 4096\n[workload]\narrival = \"closed\"\nconcurrency = 100000\nnum_requests = 2000\ninput_tokens = 256\noutput_tokens = 128\n",
    );
    // Before: ran without a word; latencies printed as 32,078,100 ms.
    let r = capsim(&["simulate", arg(&sc)]);
    println!("{}", r.stdout);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("100000 users but 2000 requests"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("latencies in s"), "{}", r.stdout);
}

#[test]
fn out_refuses_a_folder_of_other_files_unless_forced() {
    let dir = scratch("out-refuse");
    let out = dir.join("mine");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("thesis.tex"), "do not delete").unwrap();
    let args = [
        "simulate",
        "scenarios/rtx4090-concurrency.toml",
        "--out",
        arg(&out),
    ];
    // Before: capsim wrote its files next to the user's.
    let r = capsim(&args);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("thesis.tex") && r.stderr.contains("--force"),
        "{}",
        r.stderr
    );
    assert!(!out.join("summary.json").exists());
    let r = capsim(&[&args[..], &["--force"]].concat());
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(out.join("summary.json").is_file() && out.join("thesis.tex").is_file());
    // A folder of capsim's own results is replaced cleanly, stale records included.
    let own = dir.join("own");
    let r = capsim(&[&args[..2], &["--out", arg(&own)]].concat());
    assert_eq!(r.code, 0, "{}", r.stderr);
    std::fs::write(own.join("records-999.jsonl"), "").unwrap();
    let r = capsim(&[
        "simulate",
        "scenarios/rtx4090-concurrency.toml",
        "--set",
        "workload.concurrency=4",
        "--out",
        arg(&own),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        !own.join("records-999.jsonl").exists(),
        "stale records removed"
    );
    // The report folder too.
    let report = dir.join("report");
    std::fs::create_dir_all(&report).unwrap();
    std::fs::write(report.join("notes.txt"), "mine").unwrap();
    let r = capsim(&["report", arg(&own), "--out", arg(&report)]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("notes.txt"));
}

#[test]
fn models_lists_every_preset_and_init_writes_scenarios_that_simulate() {
    let r = capsim(&["models", "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let models: Vec<serde_json::Value> = serde_json::from_str(&r.stdout).unwrap();
    let names: Vec<&str> = models.iter().map(|m| m["name"].as_str().unwrap()).collect();
    println!("{}", r.stderr);
    assert_eq!(names, capsim::model::preset_names());
    let dir = scratch("init");
    for name in &names {
        for engine in ["vllm", "llamacpp"] {
            // The fewest H200s the model runs on: a model that does not fit, or a TP degree
            // its heads refuse, is an input error with its reason; some count must work.
            let path = dir.join(format!("{name}-{engine}.toml"));
            let mut tried = Vec::new();
            let fits = [1u32, 2, 4, 8].into_iter().find(|gpus| {
                let r = capsim(&[
                    "init",
                    "--model",
                    name,
                    "--gpu",
                    "h200",
                    "--gpus",
                    &gpus.to_string(),
                    "--engine",
                    engine,
                    "--workload",
                    "chat",
                    "--out",
                    arg(&path),
                ]);
                if r.code != 0 {
                    assert_eq!(r.code, 2, "init {name} {engine} x{gpus}: {}", r.stderr);
                    assert!(r.stderr.contains("error:"), "{}", r.stderr);
                }
                tried.push(format!("x{gpus}: {}", r.stderr.trim()));
                r.code == 0
            });
            println!("init {name} {engine}: {fits:?} H200s");
            assert!(fits.is_some(), "init {name} {engine}: {tried:#?}");
            let r = capsim(&["simulate", arg(&path), "--set", "workload.num_requests=40"]);
            assert_eq!(r.code, 0, "simulate {name} {engine}: {}", r.stderr);
        }
    }
    for workload in ["chat", "agents", "rate", "long-context"] {
        let r = capsim(&[
            "init",
            "--model",
            "mistral-7b",
            "--gpu",
            "rtx4090",
            "--workload",
            workload,
        ]);
        assert_eq!(r.code, 0, "{workload}: {}", r.stderr);
        assert!(r.stdout.contains("[workload]") && r.stdout.contains('#'));
    }
    // A model that does not fit is refused with the way out.
    let r = capsim(&["init", "--model", "llama-3-70b", "--gpu", "rtx4090"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("--gpus"), "{}", r.stderr);
    let r = capsim(&[
        "init",
        "--model",
        "mistral-7b",
        "--gpu",
        "rtx4090",
        "--workload",
        "bogus",
    ]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("chat, agents, rate or long-context"));
}

const HF_CONFIG: &str = r#"{"architectures":["LlamaForCausalLM"],"model_type":"llama","hidden_size":2048,"intermediate_size":8192,"num_hidden_layers":16,"num_attention_heads":32,"num_key_value_heads":8,"head_dim":64,"vocab_size":128256,"max_position_embeddings":131072,"tie_word_embeddings":true}"#;

/// A local stand-in for the Hub's URL layout: `/{org}/{name}/resolve/main/config.json`.
fn local_hub() -> (String, Arc<AtomicUsize>, Arc<std::sync::Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let auth = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (h, a) = (hits.clone(), auth.clone());
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            let mut header = String::new();
            while reader.read_line(&mut header).is_ok_and(|n| n > 2) {
                if header.to_ascii_lowercase().starts_with("authorization:") {
                    a.lock().unwrap().push(header.trim().to_string());
                }
                header.clear();
            }
            h.fetch_add(1, Ordering::Relaxed);
            let (status, body) =
                if line.starts_with("GET /test-org/tiny-llama/resolve/main/config.json ") {
                    ("200 OK", HF_CONFIG)
                } else {
                    ("404 Not Found", "{\"error\":\"not found\"}")
                };
            let _ = write!(
                conn,
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (url, hits, auth)
}

#[test]
fn a_hugging_face_id_resolves_through_the_hub_and_then_offline_from_the_cache() {
    let dir = scratch("hf");
    let cache = dir.join("cache");
    let (hub, hits, auth) = local_hub();
    let sc = write(
        &dir,
        "hf.toml",
        "[model]\nhf = \"test-org/tiny-llama\"\n[hardware]\ngpu = \"rtx4090\"\n[engine]\nkind = \"vllm\"\nmax_model_len = 4096\n[workload]\narrival = \"closed\"\nconcurrency = 2\nnum_requests = 20\ninput_tokens = 128\noutput_tokens = 32\n",
    );
    let run = |endpoint: &str, args: &[&str]| {
        let env = [
            ("HF_ENDPOINT", endpoint),
            ("HF_TOKEN", "hf_secret"),
            ("CAPSIM_CACHE_DIR", arg(&cache)),
        ];
        let r = common::cli::capsim_env(args, &env);
        (Some(r.code), r.stdout, r.stderr)
    };
    // Before: "No such file".
    let (code, out, err) = run(&hub, &["simulate", arg(&sc)]);
    println!("{out}{err}");
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("test-org/tiny-llama"), "{out}");
    assert_eq!(hits.load(Ordering::Relaxed), 1);
    assert_eq!(
        auth.lock().unwrap().as_slice(),
        ["authorization: Bearer hf_secret"]
    );
    assert!(cache.join("hf/test-org/tiny-llama/config.json").is_file());
    // Offline: an endpoint nothing listens on; the cache answers.
    let (code, _, err) = run("http://127.0.0.1:9", &["simulate", arg(&sc)]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(hits.load(Ordering::Relaxed), 1, "no second download");
    // A model the Hub does not have, and an id that is not one.
    let missing = write(
        &dir,
        "missing.toml",
        &std::fs::read_to_string(&sc)
            .unwrap()
            .replace("tiny-llama", "nope"),
    );
    let (code, _, err) = run(&hub, &["simulate", arg(&missing)]);
    assert_eq!(code, Some(2));
    assert!(err.contains("404"), "{err}");
    let bad = write(
        &dir,
        "bad.toml",
        &std::fs::read_to_string(&sc)
            .unwrap()
            .replace("test-org/tiny-llama", "tiny-llama"),
    );
    let (code, _, err) = run(&hub, &["simulate", arg(&bad)]);
    assert_eq!(code, Some(2));
    assert!(err.contains("org/name"), "{err}");
    // init writes model.hf for an id.
    let (code, out, err) = run(
        &hub,
        &["init", "--model", "test-org/tiny-llama", "--gpu", "rtx4090"],
    );
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("hf = \"test-org/tiny-llama\""));
}

/// The points of a `simulate --out` folder and its analysis.
fn sweep(dir: &std::path::Path, scenario: &str) -> (Vec<serde_json::Value>, serde_json::Value) {
    let out = dir.join("out");
    let r = capsim(&["simulate", scenario, "--out", arg(&out)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    println!("{}", r.stdout);
    let read = |f: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(out.join(f)).unwrap()).unwrap()
    };
    (
        read("summary.json").as_array().unwrap().clone(),
        read("analysis.json"),
    )
}

#[test]
fn the_knee_sits_where_latency_starts_to_outgrow_throughput() {
    // Closed loop, Mistral-7B on a 4090, 1 → 256 users. Before: Kneedle put the knee at 128
    // users, far into the queue.
    let dir = scratch("knee-closed");
    let text =
        std::fs::read_to_string(common::cli::repo().join("scenarios/rtx4090-concurrency.toml"))
            .unwrap()
            .replace(
                "\"workload.concurrency\" = [1, 2, 4, 8, 16, 32, 48, 64, 96, 128]",
                "\"workload.concurrency\" = [1, 2, 4, 8, 16, 32, 48, 64, 96, 128, 192, 256]",
            )
            .replace(
                "../calibration/",
                &format!("{}/calibration/", common::cli::repo().display()),
            );
    assert!(text.contains("192, 256"));
    let p = write(&dir, "closed.toml", &text);
    let (_, a) = sweep(&dir, arg(&p));
    let knee = a["knee"]["value"].as_f64().unwrap();
    println!("knee {knee} users, kneedle {}", a["kneedle"]["value"]);
    assert!((16.0..=64.0).contains(&knee), "knee at {knee} users");

    // Rate sweep: the knee lies below the first rate whose p99 TTFT exceeds 4x light load's.
    // Before: 16 req/s, where p99 TTFT was already 2.5 s (277 ms at 14).
    let dir = scratch("knee-rate");
    let (points, a) = sweep(&dir, "scenarios/rtx4090-rate-sweep.toml");
    let rate = |p: &serde_json::Value| p["point"]["workload.rate"].as_f64().unwrap();
    let p99 = |p: &serde_json::Value| p["p99_ttft_ms"].as_f64().unwrap();
    let light = p99(&points[0]);
    let blown = points
        .iter()
        .find(|p| p99(p) > 4.0 * light)
        .map(rate)
        .expect("the sweep reaches overload");
    let knee = a["knee"]["value"].as_f64().unwrap();
    println!("light-load p99 TTFT {light:.0} ms; first rate above 4x: {blown}; knee {knee}");
    assert!(
        knee < blown,
        "knee {knee} req/s, p99 > 4x light load from {blown}"
    );
    assert!(
        a["kneedle"]["value"].is_number(),
        "the Kneedle reading is kept"
    );
}

#[test]
fn a_plan_on_a_cliff_shows_its_neighbour() {
    // Before: "20 replicas at 521 ms" while 19 gave 1,011 ms, and nothing said so. Poisson
    // traffic at 20 req/s, at most 64 in flight: one replica fewer than the answer queues.
    for (slo, cliff) in [("p99_ttft_ms<=1500", true), ("p99_ttft_ms<=1000", false)] {
        let args = [
            "plan",
            "scenarios/rtx4090-rate-sweep.toml",
            "--set",
            "workload.rate=20",
            "--find",
            "replicas",
            "--slo",
            slo,
        ];
        let r = capsim(&[&args[..], &["--json"]].concat());
        assert_eq!(r.code, 0, "{}", r.stderr);
        let p: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
        let answer = p["answer"].as_f64().unwrap();
        let value = p["binding_value"].as_f64().unwrap();
        let next = p["neighbour_value"].as_f64().unwrap();
        println!("{slo}: {answer} replicas at {value:.0} ms; one fewer: {next:.0} ms");
        assert_eq!(p["neighbour"].as_f64().unwrap(), answer - 1.0, "one fewer");
        assert_eq!(p["cliff"].as_bool().unwrap(), cliff, "{slo}");
        assert_eq!(
            cliff,
            next > 1.5 * value,
            "a cliff: the neighbour is 1.5x worse"
        );
        let text = capsim(&args);
        println!("{}", text.stdout);
        let line = if cliff {
            format!("on a cliff: at replicas = {}: p99_ttft_ms = ", answer - 1.0)
        } else {
            format!(
                "next candidate: at replicas = {}: p99_ttft_ms = ",
                answer - 1.0
            )
        };
        assert!(text.stdout.contains(&line), "{}", text.stdout);
    }
}

#[test]
fn non_physical_or_poor_calibrations_are_flagged_and_strict_refuses_them() {
    use capsim::calibrate::checked;
    use capsim::cost::Profile;
    // Before: efficiencies of 1.46 and 1.5 of the datasheet printed without a word.
    let mut p =
        Profile::load(&common::cli::repo().join("calibration/h100-llamacpp-cuda.json")).unwrap();
    let c = p.coefficients.as_mut().unwrap();
    c.bw_efficiency.value = 1.46;
    c.flops_efficiency.value = 1.5;
    let flagged = checked(p.clone(), false).expect("warnings do not refuse");
    let flags = &flagged.fit.as_ref().unwrap().flags;
    println!("{flags:#?}");
    assert!(flags
        .iter()
        .any(|f| f.contains("bandwidth efficiency 1.46 is above")));
    assert!(flags
        .iter()
        .any(|f| f.contains("compute efficiency 1.50 is above")));
    assert!(flags.iter().any(|f| f.contains("mediocre fit (R² 0.861")));
    let strict = checked(p.clone(), true).unwrap_err().to_string();
    assert!(strict.contains("--strict"), "{strict}");
    // A fit that explains nothing is refused even without --strict.
    p.fit.as_mut().unwrap().r2 = -0.003;
    let refused = checked(p, false).unwrap_err().to_string();
    assert!(refused.contains("explains too little"), "{refused}");
}

#[test]
fn a_calibration_that_explains_nothing_writes_no_profile() {
    // Simulated records carry no inter-token gaps and one prompt length: nothing to fit.
    // Before: a profile with R² −0.003 was written and used.
    let dir = scratch("cal-refuse");
    let text =
        std::fs::read_to_string(common::cli::repo().join("scenarios/rtx4090-concurrency.toml"))
            .unwrap()
            .replace(
                "\"workload.concurrency\" = [1, 2, 4, 8, 16, 32, 48, 64, 96, 128]",
                "\"workload.concurrency\" = [1, 2, 4, 8]",
            )
            .replace("num_requests = 2000", "num_requests = 64")
            .replace(
                "../calibration/",
                &format!("{}/calibration/", common::cli::repo().display()),
            );
    let s = write(&dir, "s.toml", &text);
    let sim = dir.join("sim");
    assert_eq!(capsim(&["simulate", arg(&s), "--out", arg(&sim)]).code, 0);
    // A simulate --out folder is refused as runs (it holds predictions); its records files
    // alone read as recorded runs, the input this refusal is about.
    let runs = dir.join("runs");
    std::fs::create_dir_all(&runs).unwrap();
    for f in std::fs::read_dir(&sim).unwrap().flatten() {
        let name = f.file_name().to_string_lossy().into_owned();
        if name.starts_with("records-") {
            std::fs::copy(f.path(), runs.join(name)).unwrap();
        }
    }
    let out = dir.join("p.json");
    let r = capsim(&[
        "calibrate",
        "--from",
        arg(&runs),
        "--scenario",
        arg(&s),
        "--out",
        arg(&out),
    ]);
    println!("{}{}", r.stdout, r.stderr);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("no profile written"), "{}", r.stderr);
    assert!(!out.exists());
}
