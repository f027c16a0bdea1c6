# gpustack performance-lab: the vLLM runs of `vllm bench serve --dataset-name random` (fixed
# lengths, every request sent at once), from the "Other Benchmark Cases" sections: the pages'
# baseline vLLM command, and their optimized one where that is vLLM too.
# Unlike the same pages' ShareGPT runs, their lengths are fixed, so the run's duration is not set
# by a length distribution the corpus does not have. Runs are transcribed in
# gpustack_random_runs.py (one dict per run, numbers as printed).
from rows_base import R, M
from gpustack_random_runs import RUNS

BITS = {"bf16": 16, "fp8": 8, "awq": 4.25, "mxfp4": 4.25}
URL = "https://github.com/gpustack/gpustack/blob/{commit}/docs/performance-lab/{page}"


# The pages' model names, as the corpus names them (rows_base.MODELS).
MODEL = {"GPT-OSS-20B": "gpt-oss-20b", "GPT-OSS-120B": "gpt-oss-120b",
         "Qwen3-235B-A22B-Instruct-2507": "Qwen3-235B-A22B"}


def rows(run):
    run = dict(run, model=MODEL.get(run["model"], run["model"]))
    if run["gpu"] == "h100":
        # The lab's H100 pages, at some of the commits cited, say only "NVIDIA H100 GPUs"; their
        # revision c885e930 (2026-01-06, "docs: clarify GPU number in performance lab", no
        # number changed) names "A single NVIDIA H100 SXM GPU" on each single-GPU page used
        # here, "2 ×" and "8 × NVIDIA H100 SXM GPUs" on the gpt-oss-120b and qwen3-235b-a22b
        # ones (each row's note quotes it). The same pages' ShareGPT rows (src_gpustack.py) are
        # H100 SXM too.
        run["gpu"] = "h100-sxm"
    n = run["successful"]
    url = URL.format(**run)
    settings = run["serve"]
    if run.get("settings") and run["settings"] not in settings:
        settings += f" {run['settings']}"
    if run.get("series") == "optimized":
        settings += " (the page's optimized vLLM configuration)"
    settings += f"; vllm bench serve --dataset-name random --random-input-len {run['input_len']} " \
                f"--random-output-len {run['output_len']} --num-prompts {n} (request rate inf, no --ignore-eos)"
    made = (f"{run['case']}: {n} requests sent at once, {run['input_len']} in / {run['output_len']} out "
            f"(totals {run['total_input']} in, {run['total_generated']} generated), "
            f"duration {run['duration_s']} s, {run['req_s']} req/s")
    if run.get("gpu_note"):
        made += f"; {run['gpu_note']}"
    common = dict(url=url, date="2025-11", engine_version=run["engine_version"], quant=run["quant"],
                  bits_per_weight=BITS[run["quant"]], gpu_count=run["gpu_count"],
                  interconnect="nvlink" if run["gpu_count"] > 1 else "",
                  batch_or_concurrency=n, prompt_tokens=run["input_len"],
                  output_tokens=run["output_len"], settings=settings, **M(run["model"]))
    R("gr", "aggregate_tok_s", run["output_tok_s"], run["gpu"], "vllm",
      notes=f"Output token throughput of a fixed-length random-dataset run; {made}.", **common)
    R("gr", "ttft_ms", run["mean_ttft_ms"], run["gpu"], "vllm",
      notes=f"Mean TTFT (median {run['median_ttft_ms']} ms); {made}.", **common)


for run in RUNS:
    rows(run)
