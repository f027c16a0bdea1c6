from rows_base import R, M
# vLLM issue #20469: 1x A100 80GB, Qwen3-14B-AWQ, v0.9.1, enforce-eager, conc 1, 16000 in / 200 out
U="https://github.com/vllm-project/vllm/issues/20469"
c=dict(engine_version="0.9.1",quant="awq",bits_per_weight=4.25,batch_or_concurrency=1,prompt_tokens=16000,output_tokens=200,
       settings="--enforce-eager --max-model-len 16384 --max-num-seq 30 --guided-decoding-backend guidance; benchmark_serving random, max-concurrency 1, request-rate 1")
R("is","ttft_ms","3345.37","a100-80gb","vllm",url=U,date="2025-07",notes="Mean TTFT for a 16000-token prompt at concurrency 1 (implies ~4780 prompt tok/s, derived). Issue reports degradation at >1 concurrency.",**c,**M("Qwen3-14B"))
R("is","decode_tok_s_single","48.47","a100-80gb","vllm",url=U,date="2025-07",notes="DERIVED: 1000 / mean TPOT 20.63 ms. Reported output token throughput incl. TTFT was 26.84 tok/s. enforce-eager (no CUDA graphs) lowers decode speed.",**c,**M("Qwen3-14B"))
# vLLM PR #2192 custom all-reduce (2023-12-19): benchmark_latency input 256 / output 256
U="https://github.com/vllm-project/vllm/pull/2192"
for gpu,n,ic,model,bs,before,after in [("a100-80gb",4,"nvlink","Llama-2-70B",64,16.37,14.57),("a30",2,"pcie","Llama-2-13B",32,10.43,9.79)]:
    for lbl,lat in (("NCCL all-reduce (before)",before),("custom all-reduce (after)",after)):
        v=round(bs*256/lat,1)
        R("is","aggregate_tok_s",str(v),gpu,"vllm",url=U,date="2023-12-19",engine_version="~0.2.6 (PR #2192)",quant="fp16",bits_per_weight=16,gpu_count=n,interconnect=ic,
          batch_or_concurrency=bs,prompt_tokens=256,output_tokens=256,settings=f"benchmark_latency.py -tp {n} --input-len 256 --output-len 256 --batch-size {bs}; {lbl}",
          notes=f"DERIVED: batch {bs} x 256 output tokens / end-to-end latency {lat} s (latency includes prefill of the batch). Model labelled 'Llama {model.split('-')[2]}' in the PR ('A30 (no nvlink)' for the 13B row).",**M(model))
# kyuz0/amd-strix-halo-toolboxes issue #98: llama-server --parallel N aggregate throughput, Strix Halo (Radeon 8060S), Qwen3-Coder-Next 80B Q4_K_M
U="https://github.com/kyuz0/amd-strix-halo-toolboxes/issues/98"
for n,per,agg in [(1,"40.5","40.5"),(2,"33.7","67.4"),(4,"25.9","103.5"),(8,"19.4","155.3"),(16,"10.5","168.4")]:
    R("is","decode_tok_s_single" if n==1 else "aggregate_tok_s",agg,"radeon-8060s","llamacpp",url=U,date="2026-05-30",engine_version="TurboQuant llama-server fork b9418 (ROCm 7.1.1, gfx1151)",
      quant="q4_k_m",bits_per_weight=4.85,batch_or_concurrency=n,prompt_tokens="",output_tokens=200,
      settings=f"llama-server --parallel {n}, 64k ctx/slot, -ctk turbo3 -ctv turbo3 -ngl 99 -fa 1 -t 4",
      notes=f"llama-server parallel slots: aggregate {agg} t/s, per-slot {per} t/s, 200 tokens/request, temperature 0. Strix Halo APU (Ryzen AI MAX+ 395, unified LPDDR5X). Unsloth UD-Q4_K_M (46 GB). MoE 80B total / ~3B active.",
      **M("Qwen3-Coder-Next-80B-A3B"))
# vLLM issue #16515 (cyril23, 2025-05-20): RTX 5090, Llama-3.1-8B-Instruct FP16 vs FP8, HF inference-benchmarker rate test, ~200 in / ~200 out
U="https://github.com/vllm-project/vllm/issues/16515"
for q,bpw,rate,val,ck in [("fp16",16,30,"3413","meta-llama/Llama-3.1-8B-Instruct"),("fp16",16,100,"3708","meta-llama/Llama-3.1-8B-Instruct"),
                          ("fp8",8,30,"4840","RedHatAI/Meta-Llama-3.1-8B-Instruct-FP8 (compressed-tensors)"),("fp8",8,100,"5418","RedHatAI/Meta-Llama-3.1-8B-Instruct-FP8 (compressed-tensors)")]:
    R("is","aggregate_tok_s",val,"rtx5090","vllm",url=U,date="2025-05-20",engine_version="custom sm120 build (cu128), ~0.8.x/0.9.x",quant=q,bits_per_weight=bpw,
      batch_or_concurrency=f"rate {rate} req/s (open loop, max-vus 800)",prompt_tokens=200,output_tokens=200,
      settings=f"{ck}; --max-model-len 1024 --enable-chunked-prefill --max_num_batched_tokens 2048 --gpu_memory_utilization 0.9",
      notes="'Throughput (tokens/sec)' at a fixed arrival rate from the issue's summary chart (HF inference-benchmarker, prompt/decode num_tokens=200 +-10; whether output-only or total is not stated in the chart). Rate-driven, not concurrency-driven.",**M("Llama-3.1-8B"))
# vLLM issue #17788: single H100 NVL 95GB, vLLM 0.8.5.post1, Qwen3-32B bf16, ShareGPT 1000 prompts, request-rate inf, max-num-seqs 32
U="https://github.com/vllm-project/vllm/issues/17788"
R("is","aggregate_tok_s","653.61","h100-nvl","vllm",url=U,date="2025-05-07",engine_version="0.8.5.post1",quant="bf16",bits_per_weight=16,batch_or_concurrency=32,prompt_tokens=217,output_tokens=201,
  settings="--max-model-len 32000 --enable-chunked-prefill --enable-prefix-caching --max-num-seqs 32",notes="Output token throughput; batch capped by max-num-seqs 32 (1000 requests sent at once, mean TTFT 146.8 s is queueing). Avg in/out from totals 217393/200516.",**M("Qwen3-32B"))
# vLLM issue #22331: A100 80GB (fully NVLinked), gpt-oss-120b, vllm/vllm-openai:gptoss image, TRITON_ATTN_VLLM_V1, single-stream decode
U="https://github.com/vllm-project/vllm/issues/22331"
for n,val,note in [(1,"90","TP=1: 'For TP=1, I get 90 tps.'"),(2,"77.5","TP=2/4: 'For TP=2/4, I get 77-78 tps' (midpoint recorded); i.e. adding GPUs LOWERED single-stream MoE decode speed.")]:
    R("is","decode_tok_s_single",val,"a100-80gb","vllm",url=U,date="2025-08-28",engine_version="vllm/vllm-openai:gptoss image (Aug 2025, ~0.10.1)",quant="mxfp4",bits_per_weight=4.25,
      gpu_count=n,interconnect=("nvlink" if n>1 else ""),batch_or_concurrency=1,prompt_tokens="",output_tokens="",
      settings=f"--tensor-parallel-size={n}, VLLM_ATTENTION_BACKEND=TRITON_ATTN_VLLM_V1, TORCH_CUDA_ARCH_LIST=8.0",
      notes=note+" Quoted in a comment by jkyamog; maintainer-side explanation offered: few local experts per device slows the MoE layer. A100 has no native MXFP4 (weight-only path).",**M("gpt-oss-120b"))
# vLLM PR #3692 (2024-03-28): DBRX Triton MoE kernel tuned for H100; benchmark_latency default input 32 / output 128 tokens
U="https://github.com/vllm-project/vllm/pull/3692"
DB=dict(model="DBRX",params_b=132,active_params_b=36,moe="true")
for n,bs,lat in [(4,8,3.2545747229084374),(4,64,4.446144629847258),(8,8,2.305059498753399),(8,64,3.3472835789062083)]:
    R("is","aggregate_tok_s",str(round(bs*128/lat,1)),"h100-sxm","vllm",url=U,date="2024-03-28",engine_version="~0.4.0 (PR #3692 branch, tuned MoE config)",quant="bf16",bits_per_weight=16,
      gpu_count=n,interconnect="nvlink",batch_or_concurrency=bs,prompt_tokens=32,output_tokens=128,settings=f"benchmark_latency.py --model databricks/dbrx-instruct --tp {n} --batch-size {bs} --num-iters 50",
      notes=f"DERIVED: {bs} x 128 output tokens / Avg latency {lat:.3f} s (latency includes the short 32-token prefill). H100 form factor not stated (SXM assumed). MoE 132B total / 36B active.",**DB)
# ai-bot-pro/achatbot PR #183 (2025-08-10): SGLang gpt-oss-20b on Modal H100, TP1, max-concurrency 32, random 512 in / 1024 out
U="https://github.com/ai-bot-pro/achatbot/pull/183"
c=dict(engine_version="not stated (Aug 2025)",quant="mxfp4",bits_per_weight=4.25,batch_or_concurrency=32,prompt_tokens=512,output_tokens=1024,settings="sglang serve openai/gpt-oss-20b TP=1 on Modal H100; bench --num-prompts 160 --max-concurrency 32")
R("is","aggregate_tok_s","2765.40","h100","sglang",url=U,date="2025-08-10",notes="Output token throughput (backend sglang-oai); in/out per request from totals 81920/163840 over 160 requests. Modal 'H100' (SXM vs PCIe not stated).",**c,**M("gpt-oss-20b"))
R("is","ttft_ms","2106.69","h100","sglang",url=U,date="2025-08-10",notes="Median TTFT at max concurrency 32 (mean 3721.89).",**c,**M("gpt-oss-20b"))
