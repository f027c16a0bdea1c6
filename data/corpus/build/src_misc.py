from rows_base import R, M
# TensorRT-LLM perf overview (v1.0 era), offline max-throughput, Total Output Throughput
U="https://github.com/NVIDIA/TensorRT-LLM/blob/00f37686aa854010d68bcbd0f4ab000221541ca6/docs/source/performance/perf-overview.md"
N="trtllm-bench throughput, PyTorch backend, requests queued at infinite rate (offline max load); metric = Total Output Throughput (tok/s) summed over all GPUs; uniform synthetic ISL/OSL."
for model,gpu,n,q,bpw,isl,osl,val in [
  ("Llama-3.1-8B","h100-sxm",1,"fp8",8,128,128,"28312"),("Llama-3.1-8B","h100-sxm",1,"fp8",8,1000,1000,"15220"),("Llama-3.1-8B","h100-sxm",1,"fp8",8,2048,2048,"9305"),
  ("Llama-3.1-8B","h200",1,"fp8",8,1000,1000,"17744"),
  ("Llama-3.3-70B","h100-sxm",2,"fp8",8,1000,1000,"4205"),("Llama-3.3-70B","h200",1,"fp8",8,1000,1000,"2909"),
  ("Qwen3-235B-A22B","h100-sxm",8,"fp8",8,1000,1000,"14898"),("Qwen3-235B-A22B","h200",8,"fp8",8,1000,1000,"23789"),
  ("Qwen3-30B-A3B","rtx-pro-6000-server",1,"nvfp4",4.5,1000,1000,"9910")]:
    mm=M(model) if model!="Llama-3.3-70B" else dict(model="Llama-3.3-70B",params_b=70.6,active_params_b=70.6,moe="false")
    R("tr","aggregate_tok_s",val,gpu,"other",url=U,date="2025-09",engine_version="TensorRT-LLM ~v1.0 (PyTorch backend)",quant=q,bits_per_weight=bpw,gpu_count=n,interconnect=("nvlink" if n>1 else ""),
      batch_or_concurrency="max (offline)",prompt_tokens=isl,output_tokens=osl,settings=f"TP{n}, nvidia ModelOpt {q.upper()} checkpoint, kv_cache_free_gpu_mem_fraction 0.95 where possible",
      notes=N+" Date approximate (doc revision with RTX 6000 Pro 'NEW for v1.0').",**mm)
# databasemart A40 vLLM benchmark: 50 concurrent requests, 100 in / 600 out
U="https://databasemart.com/blog/vllm-gpu-benchmark-a40"
for model,mm,out,tot in [("meta-llama/Llama-3.1-8B-Instruct",M("Llama-3.1-8B"),"1016.60","1245.87"),
                        ("Qwen/Qwen2.5-7B-Instruct",dict(model="Qwen2.5-7B",params_b=7.6,active_params_b=7.6,moe="false"),"1094.54","1307.47"),
                        ("Qwen/Qwen2.5-14B-Instruct",dict(model="Qwen2.5-14B",params_b=14.7,active_params_b=14.7,moe="false"),"529.88","634.96")]:
    R("dm","aggregate_tok_s",out,"a40","vllm",url=U,date="",engine_version="not stated",quant="bf16",bits_per_weight=16,batch_or_concurrency=50,prompt_tokens=100,output_tokens=600,
      settings="50 concurrent requests (Scenario 1); default vLLM serve",notes=f"Output (tokens/s) for {model}; total throughput {tot} tok/s. Hosting-vendor blog; generated tokens below 50x600 (early EOS). Page date not visible.",**mm)
R("dm","ttft_ms","219.8","a40","vllm",url=U,date="",engine_version="not stated",quant="bf16",bits_per_weight=16,batch_or_concurrency=50,prompt_tokens=100,output_tokens=600,
  settings="50 concurrent requests",notes="Median TTFT for Llama-3.1-8B-Instruct at 50 concurrent requests.",**M("Llama-3.1-8B"))
# dmatora/LLM-inference-speed-benchmarks data.js (2024): short prompt "Give me 1 line phrase", tool not stated
U="https://github.com/dmatora/LLM-inference-speed-benchmarks/blob/573d483593d63a0d547af7a063340b19033a63b2/data.js"
for gpu,val in [("rtx3090","120"),("rtx4090","140"),("rtx3060","59"),("rtx4060ti","44"),("p40","45")]:
    R("dt","decode_tok_s_single",val,gpu,"other",url=U,date="2024",engine_version="not stated",quant="q4",bits_per_weight="",batch_or_concurrency=1,prompt_tokens="",output_tokens="",
      settings="prompt 'Give me 1 line phrase'",notes="Crowd-sourced generation speed for 'Mistral Instruct 7B Q4'; inference tool not stated (GGUF Q4 => llama.cpp-family app likely); exact Q4 variant unknown; proof link issue #4 not read.",**M("Mistral-7B"))
R("dt","decode_tok_s_single","40","rtx3090","other",url=U,date="2024-10-01",engine_version="not stated",quant="q4_k_m",bits_per_weight=4.85,batch_or_concurrency=1,prompt_tokens="",output_tokens="",
  settings="prompt 'Give me 1 line phrase'",notes="'Qwen 2.5 32B Q4' on RTX 3090 (issue #13 title says Q4_K_M); tool not stated.",model="Qwen2.5-32B",params_b=32.8,active_params_b=32.8,moe="false")
# dmatora issue #10: RTX 4090, llama.cpp server, Llama 3 8B Q6_K
U="https://github.com/dmatora/LLM-inference-speed-benchmarks/issues/10"
R("dt","decode_tok_s_single","93","rtx4090","llamacpp",url=U,date="2024-05-27",engine_version="not stated (May 2024)",quant="q6_k",bits_per_weight=6.56,batch_or_concurrency=1,prompt_tokens="",output_tokens="",
  settings="llama.cpp server, cold start",notes="'Generation speed: 93 tokens per second' for llama3 8b Q6.",**M("Llama-3-8B"))
R("dt","prefill_tok_s","4668","rtx4090","llamacpp",url=U,date="2024-05-27",engine_version="not stated (May 2024)",quant="q6_k",bits_per_weight=6.56,batch_or_concurrency=1,prompt_tokens="",output_tokens="",
  settings="llama.cpp server, cold start",notes="'Prompt evaluation speed: 4668 tokens per second'; prompt length not stated.",**M("Llama-3-8B"))
# sgl-project/sglang benchmark/benchmark_vllm_060/README.md (SGLang v0.3.0 vs vLLM v0.6.0, Sept 2024)
U="https://github.com/sgl-project/sglang/blob/120affb9613cc3f5bcd055ec09c7621d3ced0ebc/benchmark/benchmark_vllm_060/README.md"
L70=dict(model="Llama-3.1-70B",params_b=70.6,active_params_b=70.6,moe="false")
for eng,ver,gpu,n,mm,val,st in [
  ("vllm","0.6.0","a100-80gb",1,M("Llama-3.1-8B"),"4132.37","--num-scheduler-steps 10 --max_model_len 4096 (gpu util default 0.9)"),
  ("sglang","0.3.0","a100-80gb",1,M("Llama-3.1-8B"),"4281.51","--enable-torch-compile --disable-radix-cache"),
  ("vllm","0.6.0","h100-sxm",4,L70,"3700.64","--tensor 4 --num-scheduler-steps 10 --max_model_len 4096"),
  ("sglang","0.3.0","h100-sxm",4,L70,"3856.01","--tp 4 --disable-radix-cache --mem-frac 0.88")]:
    R("sg","aggregate_tok_s",val,gpu,eng,url=U,date="2024-09",engine_version=ver,quant="bf16",bits_per_weight=16,gpu_count=n,interconnect=("nvlink" if n>1 else ""),
      batch_or_concurrency="max (5000 ShareGPT prompts, rate inf)",prompt_tokens="",output_tokens="",settings=st,
      notes="Offline benchmark 'Output token throughput' (sglang.bench_serving sharegpt --num-prompts 5000). GPU listed as 'A100 80G' / 'H100 80G' (SXM assumed).",**mm)
for eng,ver,gpu,n,mm,ttft,tpot,st in [
  ("vllm","0.6.0","a100-80gb",1,M("Llama-3.1-8B"),"100.48","14.14","--num-scheduler-steps 10"),
  ("sglang","0.3.0","a100-80gb",1,M("Llama-3.1-8B"),"31.98","13.17","--enable-torch-compile"),
  ("vllm","0.6.0","h100-sxm",4,L70,"179.15","23.58","--tensor 4 --num-scheduler-steps 10"),
  ("sglang","0.3.0","h100-sxm",4,L70,"53.94","25.03","--tp 4")]:
    R("sg","ttft_ms",ttft,gpu,eng,url=U,date="2024-09",engine_version=ver,quant="bf16",bits_per_weight=16,gpu_count=n,interconnect=("nvlink" if n>1 else ""),
      batch_or_concurrency="rate 4 req/s (ShareGPT, 1200 prompts)",prompt_tokens="",output_tokens="",settings=st,
      notes=f"Online benchmark median TTFT at 4 RPS; median TPOT {tpot} ms. vLLM multi-step scheduling (10 steps) inflates TTFT/ITL.",**mm)
# vLLM nightly performance benchmark (Buildkite build 9515): latency tests, input 32 / output 128, fixed batch 8, H200
U="https://buildkite.com/vllm/performance-benchmark/builds/9515"
for mm,n,lat,name in [(M("Llama-3.1-8B"),1,833.421,"latency_llama8B_tp1"),(dict(model="Llama-3-70B",params_b=70.6,active_params_b=70.6,moe="false"),4,2077.53,"latency_llama70B_tp4"),(M("Mixtral-8x7B"),2,1917.44,"latency_mixtral8x7B_tp2")]:
    R("bk","aggregate_tok_s",str(round(8*128/(lat/1000),1)),"h200","vllm",url=U,date="",engine_version="vLLM nightly at build 9515 (version not shown)",quant="bf16",bits_per_weight=16,gpu_count=n,interconnect=("nvlink" if n>1 else ""),
      batch_or_concurrency=8,prompt_tokens=32,output_tokens=128,settings=f"{name}: benchmark_latency, fixed batch 8, TP={n}",
      notes=f"DERIVED: 8 x 128 output tokens / mean end-to-end latency {lat} ms (includes 32-token prefill). dtype not stated (bf16 assumed). Build date not visible in stored copy.",**mm)
