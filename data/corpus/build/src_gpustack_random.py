# gpustack performance-lab: the vLLM runs of `vllm bench serve --dataset-name random` (fixed
# lengths, every request sent at once), from the "Other Benchmark Cases" sections: the pages'
# baseline vLLM command, and their optimized one where that is vLLM too.
# Unlike the same pages' ShareGPT runs, their lengths are fixed, so the run's duration is not set
# by a length distribution the corpus does not have. Runs are transcribed in
# gpustack_random_runs.py (one dict per run, numbers as printed); qwen3-14b/h100.md's here.
from rows_base import R, M
from gpustack_random_runs import RUNS

QWEN3_14B_H100 = dict(page="qwen3-14b/h100.md", commit="7ae332aaf05783e657560ef927c527b156e2536d",
                      model="Qwen3-14B", gpu="h100-sxm", gpu_count=1, quant="bf16",
                      engine_version="0.11.0", serve="vllm serve Qwen/Qwen3-14B")
MINE = [
    dict(QWEN3_14B_H100, case="random 32K input", input_len=32000, output_len=100, successful=100,
         duration_s="386.80", total_input=3200000, total_generated=9855, req_s="0.26",
         output_tok_s="25.48", total_tok_s="8298.56", peak_concurrent="100.00",
         mean_ttft_ms="191024.43", median_ttft_ms="191051.49", p99_ttft_ms="380407.97",
         mean_tpot_ms="277.44", median_tpot_ms="284.52"),
    dict(QWEN3_14B_H100, case="random 4K input", input_len=4000, output_len=200, successful=500,
         duration_s="227.57", total_input=1997942, total_generated=99803, req_s="2.20",
         output_tok_s="438.56", total_tok_s="9218.03", peak_concurrent="500.00",
         mean_ttft_ms="112716.92", median_ttft_ms="110734.54", p99_ttft_ms="219749.74",
         mean_tpot_ms="132.45", median_tpot_ms="139.68"),
    dict(QWEN3_14B_H100, case="random 2K input", input_len=2000, output_len=100, successful=500,
         duration_s="98.91", total_input=998175, total_generated=50000, req_s="5.06",
         output_tok_s="505.51", total_tok_s="10597.19", peak_concurrent="500.00",
         mean_ttft_ms="50716.13", median_ttft_ms="49138.28", p99_ttft_ms="94614.51",
         mean_tpot_ms="206.51", median_tpot_ms="231.62"),
    dict(QWEN3_14B_H100, case="random 128 input", input_len=128, output_len=4, successful=1000,
         duration_s="22.72", total_input=127698, total_generated=4000, req_s="44.02",
         output_tok_s="176.06", total_tok_s="5796.73", peak_concurrent="1000.00",
         mean_ttft_ms="18282.75", median_ttft_ms="18061.13", p99_ttft_ms="22564.77",
         mean_tpot_ms="525.31", median_tpot_ms="597.29"),
]

BITS = {"bf16": 16, "fp8": 8, "awq": 4.25, "mxfp4": 4.25}
URL = "https://github.com/gpustack/gpustack/blob/{commit}/docs/performance-lab/{page}"


# The pages' model names, as the corpus names them (rows_base.MODELS).
MODEL = {"GPT-OSS-20B": "gpt-oss-20b", "GPT-OSS-120B": "gpt-oss-120b",
         "Qwen3-235B-A22B-Instruct-2507": "Qwen3-235B-A22B"}


def rows(run):
    run = dict(run, model=MODEL.get(run["model"], run["model"]))
    if run["gpu"] == "h100":
        # The lab's H100 pages say "NVIDIA H100 GPUs"; its qwen3-14b page says "A single NVIDIA
        # H100 SXM GPU", and its -tp 8 runs need an 8-GPU NVLink board (SXM). The same pages'
        # ShareGPT rows (src_gpustack.py) are H100 SXM too.
        run["gpu"] = "h100-sxm"
        run["gpu_note"] = run.get("gpu_note", "") + " (H100 SXM assumed: the lab's qwen3-14b page names it, and -tp 8 needs an SXM board)"
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


for run in MINE + RUNS:
    rows(run)
