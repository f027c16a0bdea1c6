from rows_base import R, M
# gpustack performance lab, "Optimizing Qwen3-8B Latency on NVIDIA H100 GPUs", the revision with the
# baseline's batch-size sweep ("Other Benchmark Cases"): vLLM v0.11.0, `vllm serve Qwen/Qwen3-8B`
# (defaults), one H100 SXM, `vllm bench serve --backend openai-chat` ShareGPT, 100 prompts, totals
# 23260 in / 22061 generated at every concurrency. The concurrency-4 run is gs-030/gs-031.
U="https://github.com/gpustack/gpustack/blob/6ceec5b8486b263beb6be4533050054e047d3254/docs/performance-lab/qwen3-8b/h100-latency.md"
ST="vllm serve Qwen/Qwen3-8B; vllm bench serve sharegpt --num-prompts 100 --max-concurrency {c}"
C=dict(url=U,date="2026-03",engine_version="0.11.0",quant="bf16",bits_per_weight=16,prompt_tokens=233,output_tokens=221,**M("Qwen3-8B"))
R("gl","decode_tok_s_single",f"{1000/7.28:.1f}","h100-sxm","vllm",batch_or_concurrency=1,settings=ST.format(c=1),
  notes="1000 / mean TPOT 7.28 ms (median 7.22, mean ITL 7.26) at max concurrency 1 ('Baseline benchmark results', BS=1); output tok/s 132.86 including TTFT.",**C)
R("gl","ttft_ms","59.01","h100-sxm","vllm",batch_or_concurrency=1,settings=ST.format(c=1),
  notes="Mean TTFT at max concurrency 1 (median 60.38, P99 73.49); avg in/out from totals 23260/22061 over 100 requests.",**C)
for c,tput,ttft in [(2,"257.19","63.78"),(8,"917.28","74.57")]:
    R("gl","aggregate_tok_s",tput,"h100-sxm","vllm",batch_or_concurrency=c,settings=ST.format(c=c),
      notes=f"Output token throughput at max concurrency {c}; avg in/out from totals 23260/22061 over 100 requests.",**C)
    R("gl","ttft_ms",ttft,"h100-sxm","vllm",batch_or_concurrency=c,settings=ST.format(c=c),
      notes=f"Mean TTFT at max concurrency {c}; avg in/out from totals 23260/22061 over 100 requests.",**C)
# dennislee22/vLLM-benchmarking README, "Test 5: 1 GPU pod hosts 7B model": vLLM 0.10.1.1 on one
# A100 80GB, Qwen2-7B-Instruct bf16; startup log non-default args max_model_len 16384 and
# gpu_memory_utilization 0.5 (24.83 GiB of KV cache), chunked prefill at 2048 tokens, CUDA graphs,
# prefix caching on (the V1 default). benchmark_serving.py --dataset-name random 1024/1024,
# request rate inf, no --max-concurrency: every prompt is sent at once.
# TTFTs are left out: the random dataset's prompts are seeded alike in every run and prefix
# caching is on, so a run finds earlier runs' prompts cached (a 1024-token prefill in 36 ms is
# beyond the A100's peak; n=20 has a lower mean TTFT than n=10). Decode and throughput rows
# barely depend on prefill.
U="https://github.com/dennislee22/vLLM-benchmarking/blob/b474d1e053c35c9aef8c02aae4efbc0d8675f033/README.md"
ST="vllm serve Qwen2-7B-Instruct --max-model-len 16384 --gpu-memory-utilization 0.5; benchmark_serving.py --dataset-name random --random-input-len 1024 --random-output-len 1024 --num-prompts {n} ({n} prompts sent at once, request rate inf)"
C=dict(date="2025-09",engine_version="0.10.1.1",quant="bf16",bits_per_weight=16,prompt_tokens=1024,output_tokens=1024,**M("Qwen2-7B"))
R("dl","decode_tok_s_single",f"{1000/11.75:.1f}","a100-80gb","vllm",url=U,batch_or_concurrency=1,settings=ST.format(n=1),
  notes="README line 1712: 1000 / mean TPOT 11.75 ms (one request of 1024/1024; output tok/s 84.95). Test 4 (KV cache 5 GiB) measured 11.76 ms.",**C)
for n,tput,gen,line in [(10,"715.92",10240,1746),(20,"1387.31",20399,1781),(30,"1967.90",30615,1815),(50,"2356.12",51119,1850)]:
    R("dl","aggregate_tok_s",tput,"a100-80gb","vllm",url=U,batch_or_concurrency=n,settings=ST.format(n=n),
      notes=f"README line {line}: output token throughput, {n} requests sent at once; totals {n*1024} in, {gen} generated. Prefix caching is on and the random prompts are seeded alike in every run, so earlier runs' prompts may be cached (TTFTs left out for that reason; prefill is a small part of 1024/1024 throughput).",**C)
# sariekr/gpu_conc (AIMultiple's vLLM concurrency benchmark), the August 2025 runs of
# openai/gpt-oss-20b (native MXFP4) on one GPU, concurrency 1: chat completions streamed by
# concurrency.py (one output token counted per streamed content chunk, as vLLM streams them;
# a later commit switched to a word-count estimate, which these runs predate), 1000-token
# prompts (target) and max_tokens 1000 (EOS not ignored). Its per-request output speed is
# output tokens / (end - first token): a single-stream decode rate. vLLM's version is not
# recorded (gpt-oss needs 0.10.1 or later).
U="https://github.com/sariekr/gpu_conc/blob/{c}/{g}/benchmark_concurrency_1.json"
for gpu,commit,folder,speed,ttft,n,label in [("h100-pcie","dac6dc558ecf9ae2d517f29bd9c3123b87a48e70","H100","149.03","59.5",34,"NVIDIA H100 PCIe, 81559MB"),
                                             ("h200","995b19485f70cafbc764a7a28b339c51fc6a0a90","H200","220.79","38.9",46,"NVIDIA H200, 143771MB")]:
    R("gc","decode_tok_s_single",speed,gpu,"vllm",url=U.format(c=commit,g=folder),date="2025-08",engine_version="not stated (gpt-oss support: 0.10.1 or later)",
      quant="mxfp4",bits_per_weight=4.25,batch_or_concurrency=1,prompt_tokens=1000,output_tokens=1000,
      settings="vllm serve openai/gpt-oss-20b; concurrency.py at concurrency 1, chat completions, 180 s phase after a 30 s ramp-up",
      notes=f"median_output_speed_per_query (output tokens / time after the first token) over {n} requests; mean TTFT {ttft} ms; gpu_info: {label}.",**M("gpt-oss-20b"))
