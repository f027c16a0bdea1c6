from rows_base import R, M
# Jan blog "Benchmarking NVIDIA TensorRT-LLM" (2024-04-29): Mistral 7B v0.2, bs1, input 2048 / output 512, Windows 11
U="https://github.com/janhq/jan/blob/003598204e085255b8af68b6ee7da15c9b10e517/docs/src/pages/post/benchmarking-nvidia-tensorrt-llm.mdx"
for gpu,lc,trt in [("rtx4090","100.43","170.63"),("rtx3090","88.70","144.19"),("rtx4070-laptop","39.70","51.57")]:
    R("jn","decode_tok_s_single",lc,gpu,"llamacpp",url=U,date="2024-04-29",engine_version="commit 15499eb (via Jan, Windows 11)",quant="q4_k_m",bits_per_weight=4.85,batch_or_concurrency=1,prompt_tokens=2048,output_tokens=512,
      settings="-ngl 100, batch_size 1, input_len 2048, output_len 512",notes="Throughput (token/s) from Jan's built-in tokens/sec stat (generation), mean of 5x10 runs. Mistral 7B v0.2 GGUF Q4_K_M.",**M("Mistral-7B"))
    R("jn","decode_tok_s_single",trt,gpu,"other",url=U,date="2024-04-29",engine_version="TensorRT-LLM 0.7.1 (Windows build)",quant="awq",bits_per_weight=4.25,batch_or_concurrency=1,prompt_tokens=2048,output_tokens=512,
      settings="Mistral-7b-int4 AWQ engine built for the GPU arch; free_gpu_memory_fraction lowered",notes="TensorRT-LLM throughput (token/s) from Jan's tokens/sec stat; compare llama.cpp row on same GPU.",**M("Mistral-7B"))
# gparemsky/48gb4090: Ollama runs (prompt-test harness: TTFT = first streamed event; PP = prompt tokens / TTFT; TG = gen tokens / (duration - TTFT))
B="https://github.com/gparemsky/48gb4090/blob/f42049f92e50c423ce25b3c2f3140cea36b9e420/ML_WORKLOADS/"
Q3C=dict(model="Qwen3-Coder-30B-A3B",params_b=30.5,active_params_b=3.3,moe="true")
Q25=dict(model="Qwen2.5-Coder-32B",params_b=32.8,active_params_b=32.8,moe="false")
OL="Ollama (llama.cpp-derived runner; version not stated), default Ollama tag quantization (Q4_K_M for these tags)"
for f,gpu,mm,pt,pp,ttft,tg,label in [
  ("4090-24-tests/report-RTX4090-qwen3_coder_latest.txt","rtx4090",Q3C,488,"2440.51","200","128.58","qwen3-coder:latest"),
  ("4090-24-tests/report-RTX4090-qwen3_coder_latest.txt","rtx4090",Q3C,4096,"2434.53","1680","118.11","qwen3-coder:latest"),
  ("4090-24-tests/report-RTX4090-qwen2_5_coder_32b.txt","rtx4090",Q25,488,"2016.94","240","38.12","qwen2.5-coder:32b"),
  ("a6000_tests/report-A6000_24GB-qwen3_coder_latest.txt","a6000",Q3C,488,"1637.11","300","97.17","qwen3-coder:latest"),
  ("a100_tests/report-A100_80GB-gpt_oss_120b.txt","a100-80gb",M("gpt-oss-120b"),525,"474.99","1110","53.72","gpt-oss:120b")]:
    q="mxfp4" if "gpt" in label else "q4_k_m"; bpw=4.25 if q=="mxfp4" else 4.85
    c=dict(engine_version=OL,quant=q,bits_per_weight=bpw,batch_or_concurrency=1,prompt_tokens=pt,settings=f"ollama tag {label}; chigkim/prompt-test harness")
    note=f" GPU label in file: see path ({f.split('/')[-1]}); date 2025-09."
    R("ol","decode_tok_s_single",tg,gpu,"other",url=B+f,date="2025-09",output_tokens="",notes="TG/s = generated tokens / (duration - TTFT)."+note,**c,**mm)
    R("ol","prefill_tok_s",pp,gpu,"other",url=B+f,date="2025-09",output_tokens=0,notes="PP/s = prompt tokens / TTFT (includes request overhead)."+note,**c,**mm)
    R("ol","ttft_ms",ttft,gpu,"other",url=B+f,date="2025-09",output_tokens="",notes="TTFT (file reports seconds, converted to ms)."+note,**c,**mm)
# TrevorS/strieber-gpt-3 benchmarks/RESULTS-ANALYSIS.md: DGX Spark GB10, llama.cpp, gpt-oss-20b Q4_K_M, fa on, ub 2048, no mmap (2025-11-03)
U="https://github.com/TrevorS/strieber-gpt-3/blob/HEAD/benchmarks/RESULTS-ANALYSIS.md"
for metric,val,pt,ot,t in [("prefill_tok_s","3713.75",2048,0,"pp2048"),("decode_tok_s_single","90.06",0,32,"tg32")]:
    R("sp",metric,val,"gb10-dgx-spark","llamacpp",url=U,date="2025-11-03",engine_version="not stated (Nov 2025)",quant="q4_k_m",bits_per_weight=4.85,batch_or_concurrency=1,prompt_tokens=pt,output_tokens=ot,
      settings="llama-bench -fa 1 -ub 2048 --no-mmap",notes=f"{t} at empty context (32K depth: pp 2028.92 / tg 60.30). gpt-oss-20b Q4_K_M GGUF (MoE tensors effectively MXFP4-class). Unified LPDDR5X memory.",**M("gpt-oss-20b"))
# githabideri/llmlab docs/benchmarks.md: single RTX 3060 12GB, ggml-org/gpt-oss-20b-GGUF (default MXFP4)
U="https://github.com/githabideri/llmlab/blob/HEAD/docs/benchmarks.md"
R("ll","decode_tok_s_single","67","rtx3060","llamacpp",url=U,date="",engine_version="not stated",quant="mxfp4",bits_per_weight=4.25,batch_or_concurrency=1,prompt_tokens="",output_tokens=2000,
  settings="ggml-org/gpt-oss-20b-GGUF default; single RTX 3060 12 GB",notes="Reported '~66-68 tok/s (~2000 tokens in ~30.3s)'; midpoint recorded. Whether any experts were offloaded to CPU on the 12 GB card is not stated. Page undated.",**M("gpt-oss-20b"))
# ollama.linkworksinc.com "vLLM TP=4 on 4x RTX 3090" (2026-04-25): Gemma-4-31B-it AWQ-4bit, vLLM 0.19.1, 32K context, batch 1, temperature 0
U="https://ollama.linkworksinc.com/posts/vllm-tp4-3090-benchmark"
G4=dict(model="Gemma-4-31B",params_b=31.0,active_params_b=31.0,moe="false")
for val,lbl in [("76.9","production rolling 7-day median, no NVLink bridges"),("81.35","hot speed-bench (back-to-back warm runs)")]:
    R("lw","decode_tok_s_single",val,"rtx3090","vllm",url=U,date="2026-04-25",engine_version="0.19.1",quant="awq",bits_per_weight=4.25,gpu_count=4,interconnect="pcie",batch_or_concurrency=1,
      prompt_tokens="",output_tokens="",settings="TP=4, 4x RTX 3090 PCIe (top pair x16, bottom pair x8), no NVLink, 32K context",
      notes=f"Single-stream decode from vLLM request-level metrics: {lbl}. An earlier config with two NVLink bridges re-benched at 75.4 tok/s after bridges were removed (bridges judged not worth it at TP=4).",**G4)
# paiml/qwen-coder-deploy README (later revision than the stored git snapshot; read via a proxy copy of the GitHub page):
# RTX 4060 Laptop GPU (1900 MHz locked), Qwen2.5-Coder-1.5B Q4_K_M on every runtime, streaming, mixed output lengths, 60 s runs
U="https://github.com/paiml/qwen-coder-deploy"
QC=dict(model="Qwen2.5-Coder-1.5B",params_b=1.54,active_params_b=1.54,moe="false")
for eng,vals in [("llamacpp",[(1,"160"),(4,"351"),(8,"419"),(16,"912"),(32,"1949")]),("vllm",[(1,"154"),(4,"598"),(8,"1142"),(16,"2037"),(32,"2998")])]:
    for c,v in vals:
        R("pq","decode_tok_s_single" if c==1 else "aggregate_tok_s",v,"rtx4060-laptop",eng,url=U,date="2026-03",engine_version="not stated",quant="q4_k_m",bits_per_weight=4.85,
          batch_or_concurrency=c,prompt_tokens="",output_tokens="",settings=("llama-server -ngl 99 (parallel slots; count not stated)" if eng=="llamacpp" else "vLLM serving the same Q4_K_M GGUF"),
          notes=f"Read via a proxy copy (hdoplus.com) of the GitHub README; the stored git snapshot (Mar 2026) has an older table. Aggregate tok/s at {c} concurrent users (production-style streaming load, 60 s). Same table: Ollama 163 (c1) / 635 (c4) and cannot scale past c4. Tiny 1.5B model: CPU/launch overheads dominate, so scaling is not representative of 7B+ models.",**QC)
# ermolushka.github.io (vLLM v0.10.1.1 on RTX 4090): Llama-3.1-8B-Instruct FP16, enforce_eager, 7 prompts x 256 tokens
U="https://ermolushka.github.io/posts/vllm-benchmark-4090"
R("em","aggregate_tok_s","339.6","rtx4090","vllm",url=U,date="",engine_version="0.10.1.1",quant="fp16",bits_per_weight=16,batch_or_concurrency=7,prompt_tokens="",output_tokens=256,
  settings="offline LLM(), dtype float16, gpu_memory_utilization 0.9, max_model_len 4096, enforce_eager=True (no CUDA graphs)",
  notes="'Tokens/Second 339.6' for the FP16 baseline over 7 representative prompts (256 tokens each) submitted together (offline batch of 7 assumed). enforce_eager lowers throughput vs default.",**M("Llama-3.1-8B"))
# geerlingguy/ai-benchmarks README 'Eval Rate' (llama.cpp llama-bench generation rate), Intel Core Ultra 265K PC rows (Dec 2025)
U="https://github.com/geerlingguy/ai-benchmarks/blob/bdf94413f5f273c985c164ac0abfafa312c4390f/README.md"
DS14=dict(model="DeepSeek-R1-Distill-Qwen-14B",params_b=14.8,active_params_b=14.8,moe="false")
for gpu,mm,q,bpw,val,issue in [("rtx4090",M("gpt-oss-20b"),"q4_k_m",4.85,"279.65",43),("rtx3060",M("gpt-oss-20b"),"q4_k_m",4.85,"83.96",40),
                             ("rtx4090",DS14,"q4_k_m",4.85,"92.49",43),("rtx2080ti",DS14,"q4_k_m",4.85,"45.06",46),("rtx3060",DS14,"q4_k_m",4.85,"29.77",40)]:
    R("gg","decode_tok_s_single",val,gpu,"llamacpp",url=U,date="2025-12",engine_version="builds b7293-b7474 (Dec 2025) per linked issues",quant=q,bits_per_weight=bpw,batch_or_concurrency=1,prompt_tokens=0,output_tokens=128,
      settings="llama-bench -n 128 -p 512,4096 -pg 4096,128 -ngl 99 -r 2; Intel Core Ultra 265K host; backend most likely Vulkan (issue tables for this host show 'Vulkan'; the 2080 Ti issue says the CUDA build was a separate comparison)",
      notes=f"README 'Eval Rate' (token generation). Model file per issue #{issue}: gpt-oss-20b-Q4_K_M.gguf / DeepSeek-R1-Distill-Qwen-14B-Q4_K_M.gguf. Vulkan vs CUDA backend matters; treat as llama.cpp-Vulkan.",**mm)
# AlexsJones/llmfit PR #773 (2026-07-20): RTX 2080 8GB (Turing), llama.cpp, Q4_K_M, ctx 4096, single slot, full offload
U="https://github.com/AlexsJones/llmfit/pull/773"
for mm,val in [(M("Llama-3.1-8B"),"71.9"),(M("Qwen3-8B"),"69.3")]:
    R("lf","decode_tok_s_single",val,"rtx2080","llamacpp",url=U,date="2026-07-20",engine_version="not stated (Jul 2026)",quant="q4_k_m",bits_per_weight=4.85,batch_or_concurrency=1,prompt_tokens="",output_tokens="",
      settings="llama-server -ngl 99, ctx 4096, single slot; llmfit bench --provider llamacpp --runs 3 (warmed)",
      notes="llmfit 'avg tok/s' via the OpenAI-compatible endpoint; per the sibling PR #755 this average includes prompt processing time, so pure decode is a few % higher. RTX 2080 (non-Ti, 8 GB, 448 GB/s).",**mm)
