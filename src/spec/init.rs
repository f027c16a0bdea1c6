//! `capsim init`: a commented scenario to start from, for a model, a GPU, an engine and one of
//! a few workloads people ask about. The text is resolved before it is handed out, so a
//! scenario `init` writes always simulates (a model that does not fit is refused with the
//! reason).

use crate::error::{InputError, InputResult};
use std::path::Path;

/// The workloads `init` knows.
pub const WORKLOADS: &str = "chat, agents, rate or long-context";

/// What `capsim init` is asked for.
pub struct InitRequest<'a> {
    /// A preset or a Hugging Face id (org/name).
    pub model: &'a str,
    pub gpu: &'a str,
    pub gpus: u32,
    pub engine: &'a str,
    pub workload: &'a str,
    pub weight_dtype: Option<&'a str>,
}

fn workload_table(name: &str) -> InputResult<&'static str> {
    Ok(match name {
        "chat" => {
            "# Chat: users who read each answer before asking again, 1 → 64 of them.
[workload]
arrival = \"closed\"
concurrency = 1
num_requests = 400
input_tokens = { dist = \"lognormal\", mean = 1000, stddev = 600, max = 4000 }
output_tokens = { dist = \"lognormal\", mean = 300, stddev = 150, max = 1000 }
think_time_s = { dist = \"exponential\", mean = 5.0 }
seed = 1

[sweep]
\"workload.concurrency\" = [1, 4, 16, 32, 64]
"
        }
        "agents" => {
            "# Coding agents: long prompts, short tool-call answers, no think time, 3 turns a task.
[workload]
arrival = \"closed\"
concurrency = 4
turns = 3
num_requests = 240
input_tokens = { dist = \"lognormal\", mean = 2000, stddev = 1000, max = 6000 }
output_tokens = { dist = \"lognormal\", mean = 250, stddev = 120, max = 800 }
shared_prefix_tokens = 1000   # the agent's system prompt, served from the prefix cache
seed = 1

[sweep]
\"workload.concurrency\" = [1, 2, 4, 8, 16]
"
        }
        "rate" => {
            "# An API behind a gateway: Poisson arrivals at rising rates, at most 256 in flight.
[workload]
arrival = \"poisson\"
rate = 1.0
concurrency = 256
num_requests = 600
input_tokens = { dist = \"lognormal\", mean = 800, stddev = 500, max = 4000 }
output_tokens = { dist = \"lognormal\", mean = 250, stddev = 150, max = 1000 }
seed = 1

[sweep]
\"workload.rate\" = [0.5, 1, 2, 4, 8, 16]
"
        }
        "long-context" => {
            "# Context growth: 8 users, the prompt grows from 1k to 16k tokens.
[workload]
arrival = \"closed\"
concurrency = 8
num_requests = 200
input_tokens = 1000
output_tokens = 256
seed = 1

[sweep]
\"workload.input_tokens\" = [1000, 2000, 4000, 8000, 16000]
"
        }
        other => {
            return Err(InputError::new(
                "--workload",
                format!("unknown workload '{other}' (expected {WORKLOADS})"),
            ))
        }
    })
}

/// The scenario's text, checked by resolving it.
pub fn scenario(r: &InitRequest) -> InputResult<String> {
    let model_line = if r.model.contains('/') {
        format!(
            "hf = \"{}\"              # fetched from the Hugging Face Hub once, then cached",
            r.model
        )
    } else {
        format!(
            "preset = \"{}\"           # `capsim models` lists the presets",
            r.model
        )
    };
    // vLLM's max_model_len (and llama.cpp's context per slot): the workload's longest
    // request, within the model's context.
    let model = if r.model.contains('/') {
        super::hf_model(r.model)?
    } else {
        crate::model::ModelShape::preset(r.model)?
    };
    let want: u32 = if r.workload == "long-context" {
        16384
    } else {
        8192
    };
    let model_max = model.max_position_embeddings.unwrap_or(u32::MAX);
    let max_len = want.min(model_max);
    let max_len_line = format!(
        "max_model_len = {max_len}             # longest prompt + answer a request may have{}",
        if model_max < want {
            " (the model's whole context)"
        } else {
            ""
        }
    );
    let ctx_line = format!(
        "ctx_size = {}                 # -c: total context, split across the slots",
        4 * max_len
    );
    // vLLM's batch defaults for this GPU (an unknown GPU is refused when the text resolves).
    let (seqs, tokens) = crate::hardware::lookup(r.gpu)
        .map(|d| super::engine::vllm_v1_batch_defaults(&d))
        .unwrap_or((256, 2048));
    let (engine_block, default_dtype) = match r.engine {
        "vllm" => (
            format!("kind = \"vllm\"
# max_num_seqs = {seqs}             # vLLM's defaults for this GPU (1024 / 8192 tokens on >= 70 GiB GPUs but the A100, else 256 / 2048)
# max_num_batched_tokens = {tokens}
{max_len_line}
# version = \"0.6.3\"             # a pinned vLLM: < 0.8 runs the V0 scheduler
# enforce_eager = true           # no CUDA graphs (saves memory, costs launches)"),
            "bf16",
        ),
        "llamacpp" | "llama.cpp" => (
            format!("kind = \"llamacpp\"
parallel = 4                     # -np: slots (requests served at once)
{ctx_line}
# n_batch = 2048, n_ubatch = 512, flash_attn = true"),
            "q4_k_m",
        ),
        other => {
            return Err(InputError::new(
                "--engine",
                format!("unknown engine '{other}' (expected vllm or llamacpp)"),
            ))
        }
    };
    let dtype = r.weight_dtype.unwrap_or(default_dtype);
    let gpus = if r.gpus > 1 {
        format!(
            "gpus_per_replica = {}             # {}\ninterconnect = \"pcie\"           # pcie | nvlink\n",
            r.gpus,
            if r.engine == "vllm" {
                "tensor parallel"
            } else {
                "llama.cpp layer split"
            }
        )
    } else {
        String::new()
    };
    let text = format!(
        "# Written by `capsim init --model {} --gpu {} --engine {} --workload {}`.
# Simulate it: capsim simulate THIS.toml   (add --set KEY=VALUE to try a change)
name = \"{}-{}-{}\"

[model]
{model_line}
weight_dtype = \"{dtype}\"       # bf16 | fp16 | fp8 | int8 | awq | gptq | mxfp4 | q4_k_m | q8_0 | …
kv_dtype = \"bf16\"

[hardware]
gpu = \"{}\"                     # `capsim hardware list`
{gpus}
[engine]
{engine_block}

# No [calibration]: a datasheet projection with the priors fitted from published
# measurements. Measure your own server with `capsim calibrate --url URL --scenario THIS.toml
# --out profile.json`, then add:
# [calibration]
# profile = \"profile.json\"

[cluster]
replicas = 1

{}",
        r.model,
        r.gpu,
        r.engine,
        r.workload,
        r.model
            .rsplit('/')
            .next()
            .unwrap_or(r.model)
            .to_ascii_lowercase(),
        r.gpu,
        r.workload,
        r.gpu,
        workload_table(r.workload)?,
    );
    super::from_str(&text, Path::new("init.toml"), &[]).map_err(|e| {
        InputError::new(
            e.key,
            format!(
                "{} (the scenario capsim init would write does not resolve: try --gpus, another --weight-dtype or a bigger GPU)",
                e.problem
            ),
        )
    })?;
    Ok(text)
}
