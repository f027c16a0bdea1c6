from rows_base import R, M
# mushfiqrahman.dev: Mistral-7B-Instruct-v0.3 on RTX 4090, vLLM, 256 in -> 128 out, 300 prompts, request-rate inf, max-concurrency sweep
U="https://mushfiqrahman.dev/benchmarking-mistral-7b-on-rtx-4090-vllm-concurrency-latency-and-capacity-planning/"
for c,out,ttft in [(4,"210","63"),(8,"377","79"),(16,"644","155"),(32,"975","362"),(48,"1190","667")]:
    common=dict(engine_version="not stated",quant="bf16",bits_per_weight=16,batch_or_concurrency=c,prompt_tokens=256,output_tokens=128,
                settings="vLLM OpenAI server, --tokenizer-mode mistral; 300 prompts, max-concurrency sweep")
    R("pv","aggregate_tok_s",out,"rtx4090","vllm",url=U,date="",notes="Output tok/s at max concurrency %d (Workload A). dtype not stated (vLLM default bf16 assumed). Page date not visible in stored copy."%c,**common,**M("Mistral-7B"))
    R("pv","ttft_ms",ttft,"rtx4090","vllm",url=U,date="",notes="Mean TTFT at max concurrency %d (median/P99 also on page)."%c,**common,**M("Mistral-7B"))
# yobitelcomm InferenceBench concurrency-sweep recipe: H100-80GB-HBM3, vLLM 0.21.0, fp16, Llama-3.1-8B-Instruct, chatbot-short workload, 2026-05-16
U="https://yobitelcomm.github.io/bench/recipes/concurrency-sweep/"
for c,thr,ttft,tpot in [(1,"122.2","13.98","6.48"),(4,"580.3","22.75","6.59"),(16,"1384.2","41.69","10.94"),(64,"1312.3","86.92","46.91")]:
    common=dict(engine_version="0.21.0",quant="fp16",bits_per_weight=16,batch_or_concurrency=c,prompt_tokens="",output_tokens="",settings="bench run llm.inference.chatbot-short --engine vllm --quant fp16 --sweep 1,4,16,64")
    metric="decode_tok_s_single" if c==1 else "aggregate_tok_s"
    # A single-stream decode rate is 1000 / TPOT; the page's throughput at concurrency 1 also
    # counts each request's TTFT and the gaps between requests.
    val=f"{1000/float(tpot):.1f}" if c==1 else thr
    extra=f" DERIVED: 1000 / tpot_p50 {tpot} ms (the median: the mean is not published; at one request in flight the two barely differ); the page's {thr} tok/s includes TTFT and the gaps between requests." if c==1 else ""
    R("pv",metric,val,"h100-sxm","vllm",url=U,date="2026-05-16",notes=f"throughput_tok_per_s at concurrency {c}; tpot_p50 {tpot} ms; prompt/output lengths of 'chatbot-short' not stated on page.{extra}",**common,**M("Llama-3.1-8B"))
    R("pv","ttft_ms",ttft,"h100-sxm","vllm",url=U,date="2026-05-16",notes=f"ttft_p50_ms at concurrency {c} (short chatbot prompts).",**common,**M("Llama-3.1-8B"))
# johnmusgrave.com: A100 40GB, vLLM 0.23.0, Llama-3.1-8B-Instruct BF16, 1024 in / 128 out
U="https://johnmusgrave.com/p/vllm-throughput-latency-sweep-on"
R("pv","decode_tok_s_single","75","a100-40gb","vllm",url=U,date="",engine_version="0.23.0",quant="bf16",bits_per_weight=16,batch_or_concurrency=1,prompt_tokens=1024,output_tokens=128,
  settings="vllm serve defaults; vllm bench serve random 1024/128 --ignore-eos --max-concurrency 1",notes="Text says 'decode at one request per time runs at about 75 tokens/sec' (approximate, ~77% of memory-bandwidth roofline); also states 6.6x throughput gain at C=8.",**M("Llama-3.1-8B"))
# LocalLLaMA post (mirror rl.huuu.biz): 2x RTX 3090 (PCIe 4.0 x16 + x4, no NVLink), 350 W, vLLM, 4096 in / 1024 out
U="https://www.reddit.com/r/LocalLLaMA/comments/1kkvqti/qwen3_throughput_benchmarks_on_2x_3090_almost/"
for model,q,bpw,par,out,tot in [("Qwen3-8B","bf16",16,"dp2","387","1993"),("Qwen3-8B","fp8",8,"dp2","581","3000"),
    ("Qwen3-14B","bf16",16,"tp2","214","1105"),("Qwen3-14B","fp8",8,"dp2","267","1376"),("Qwen3-14B","awq",4.25,"dp2","382","1947"),
    ("Qwen3-32B","fp8",8,"tp2","95","514"),("Qwen3-32B","gptq",4.25,"dp2","77","431"),("Qwen3-32B","gptq",4.25,"tp2","125","674"),
    ("Qwen3-32B","awq",4.25,"tp2","124","670"),("Qwen3-32B","int8",8,"tp2","67","393")]:
    qlabel={"gptq":"W4A16","int8":"W8A8","bf16":"FP16"}.get(q,q.upper())
    R("pv","aggregate_tok_s",out,"rtx3090","vllm",url=U,date="2025-05-12",engine_version="not stated (vllm bench serve era, ~0.8.x)",quant=q,bits_per_weight=bpw,gpu_count=2,interconnect="pcie",
      batch_or_concurrency="unknown",prompt_tokens=4096,output_tokens=1024,settings=f"{par} ({'tensor parallel -tp 2' if par=='tp2' else 'data parallel: one replica per GPU'}); gpu-memory-utilization 0.85; enable-reasoning",
      notes=f"Read via mirror rl.huuu.biz of this Reddit thread (posted 2025-05-12). Output token throughput (TG), quant label '{qlabel}'; total (TG+PP) {tot} tok/s. Concurrency/num-prompts not visible in the stored copy. FP8 on Ampere runs as weight-only (no FP8 tensor cores). PCIe 4.0 x16 + x4 link, no NVLink.",**M(model))
# millstoneai.com: gpt-oss-20b MXFP4 on 1x RTX Pro 6000 Blackwell (2026-01-28)
U="https://www.millstoneai.com/inference-benchmark/gpt-oss-20b-mxfp4-1x-rtx-pro-6000-blackwell"
common=dict(engine_version="not stated",quant="mxfp4",bits_per_weight=4.25,prompt_tokens=1024,output_tokens=1024,settings="no prompt caching, no spec decode, full-precision KV")
R("pv","decode_tok_s_single","250.0","rtx-pro-6000","other",url=U,date="2026-01-28",batch_or_concurrency=1,notes="Generation speed single request at 1K context (105.5 tok/s at 128K). Serving engine not named in excerpt.",**common,**M("gpt-oss-20b"))
R("pv","ttft_ms","35","rtx-pro-6000","other",url=U,date="2026-01-28",batch_or_concurrency=1,notes="TTFT single request, 1K context (21.4 s at 128K). Engine not named.",**common,**M("gpt-oss-20b"))
R("pv","aggregate_tok_s","642.5","rtx-pro-6000","other",url=U,date="2026-01-28",batch_or_concurrency=5,notes="Peak system throughput @5 concurrent requests, 1K context (3.3x scaling 1->5). Engine not named.",**common,**M("gpt-oss-20b"))
# poorpaul.dev: RTX 5090, gpt-oss-20b Q4_1 GGUF, 32 concurrent users
U="https://poorpaul.dev/articles/gpt-oss-20b-rtx5090-1491-toks"
R("pv","aggregate_tok_s","1491.1","rtx5090","other",url=U,date="",engine_version="not stated (GGUF file; llama.cpp-family server likely)",quant="q4_1",bits_per_weight=5.0,batch_or_concurrency=32,prompt_tokens="",output_tokens="",
  settings="gpt-oss-20b-Q4_1.gguf, 32 concurrent users",notes="Peak tok/s at 32 users (avg TTFT 200 ms); Q8_0 at 16 users ~890 tok/s. Prompt/output lengths not given.",**M("gpt-oss-20b"))
