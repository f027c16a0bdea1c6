from rows_base import R, M
B="https://github.com/gpustack/gpustack/blob/47277d79f4a5bae12a2d25e9ecbed2a2177a5f2d/docs/performance-lab/"
SG="vllm bench serve ShareGPT, 1000 prompts, request-rate inf (peak concurrency 1000)"
def agg(model, gpu, val, ttft, file, date, quant="bf16", bpw=16, engine="vllm", ver="0.11.0", settings="", n=1, ic="", inp=215312, gen=194000, extra=""):
    avg_in=round(inp/1000); avg_out=round(gen/1000)
    R("gs","aggregate_tok_s",val,gpu,engine,url=B+file,date=date,engine_version=ver,quant=quant,bits_per_weight=bpw,gpu_count=n,interconnect=ic,
      batch_or_concurrency=1000,prompt_tokens=avg_in,output_tokens=avg_out,settings=settings,
      notes=f"Output token throughput; {SG}; avg in/out tokens per request ~{avg_in}/{avg_out} (ShareGPT). {extra}".strip(),**M(model))
    if ttft:
        R("gs","ttft_ms",ttft,gpu,engine,url=B+file,date=date,engine_version=ver,quant=quant,bits_per_weight=bpw,gpu_count=n,interconnect=ic,
          batch_or_concurrency=1000,prompt_tokens=avg_in,output_tokens=avg_out,settings=settings,
          notes=f"Mean TTFT under saturation (queueing dominated); {SG}. {extra}".strip(),**M(model))
# gpt-oss-20b on H100 SXM / A100 SXM 80GB (first stored 2025-11)
agg("gpt-oss-20b","h100-sxm","7817.03","4881.62","gpt-oss-20b/h100.md","2025-11",quant="mxfp4",bpw=4.25,settings="vllm serve openai/gpt-oss-20b (defaults)",gen=193979)
agg("gpt-oss-20b","h100-sxm","9064.40",None,"gpt-oss-20b/h100.md","2025-11",quant="mxfp4",bpw=4.25,settings="--async-scheduling",gen=193919)
agg("gpt-oss-20b","h100-sxm","2679.49",None,"gpt-oss-20b/h100.md","2025-11",quant="mxfp4",bpw=4.25,engine="sglang",ver="0.5.4.post2",settings="sglang.launch_server defaults",gen=195734)
agg("gpt-oss-20b","a100-80gb","4620.12","13654.59","gpt-oss-20b/a100.md","2025-11",quant="mxfp4",bpw=4.25,settings="vllm serve openai/gpt-oss-20b (defaults)",gen=194171,extra="A100 SXM 80GB (no native MXFP4; vLLM uses a weight-only path).")
agg("gpt-oss-20b","a100-80gb","265.99",None,"gpt-oss-20b/a100.md","2025-11",quant="mxfp4",bpw=4.25,engine="sglang",ver="0.5.4.post2",settings="sglang.launch_server defaults",gen=195617,extra="SGLang on A100 was pathologically slow in this run (mean TPOT 6244 ms).")
# gpt-oss-120b, H100 SXM, TP scaling (vLLM 0.10.2)
agg("gpt-oss-120b","h100-sxm","2942.57","23629.95","gpt-oss-120b/h100.md","2025-10",quant="mxfp4",bpw=4.25,ver="0.10.2",settings="--max-model-len 32768 --async-scheduling (TP=1)",gen=187289)
agg("gpt-oss-120b","h100-sxm","7648.67","4612.68","gpt-oss-120b/h100.md","2025-10",quant="mxfp4",bpw=4.25,ver="0.10.2",n=2,ic="nvlink",settings="--max-model-len 32768 --async-scheduling -tp 2",gen=196205,extra="TP=2 is >2x TP=1 because TP=1 is KV-cache-capacity bound at this concurrency.")
agg("gpt-oss-120b","h100-sxm","11327.22","2952.04","gpt-oss-120b/h100.md","2025-10",quant="mxfp4",bpw=4.25,ver="0.10.2",n=4,ic="nvlink",settings="--max-model-len 32768 --async-scheduling -tp 4",gen=196174)
agg("gpt-oss-120b","h100-sxm","5337.65",None,"gpt-oss-120b/h100.md","2025-10",quant="mxfp4",bpw=4.25,ver="0.10.2",n=2,ic="nvlink",settings="--max-model-len 32768 --async-scheduling -pp 2 (pipeline parallel)",gen=196089,extra="Pipeline parallel 2 vs TP2 7648.67 tok/s.")
# Qwen3 dense
agg("Qwen3-14B","a100-80gb","1887.31","41875.09","qwen3-14b/a100.md","2025-11",settings="vllm serve Qwen/Qwen3-14B",inp=217393,gen=201605)
agg("Qwen3-14B","a100-80gb","1604.75",None,"qwen3-14b/a100.md","2025-11",quant="fp8",bpw=8,settings="Qwen/Qwen3-14B-FP8 (A100: no FP8 tensor cores, weight-only FP8 path)",inp=217393,gen=201655)
agg("Qwen3-14B","a100-80gb","1801.74",None,"qwen3-14b/a100.md","2025-11",quant="awq",bpw=4.25,settings="Qwen/Qwen3-14B-AWQ",inp=217393,gen=201461)
agg("Qwen3-14B","h100-sxm","3173.92","22141.21","qwen3-14b/h100.md","2025-11",settings="vllm serve Qwen/Qwen3-14B",inp=217393,gen=201648)
agg("Qwen3-14B","h100-sxm","4043.89",None,"qwen3-14b/h100.md","2025-11",engine="sglang",ver="0.5.5.post1",settings="sglang.launch_server defaults",inp=217393,gen=201628)
agg("Qwen3-32B","a100-80gb","832.43","105557.78","qwen3-32b/a100.md","2025-11",settings="--max-model-len 32768",inp=217393,gen=201396)
agg("Qwen3-32B","a100-80gb","850.81",None,"qwen3-32b/a100.md","2025-11",quant="awq",bpw=4.25,settings="Qwen/Qwen3-32B-AWQ",inp=217393,gen=201832)
agg("Qwen3-32B","h100-sxm","1131.55","78118.74","qwen3-32b/h100.md","2025-11",settings="vllm serve Qwen/Qwen3-32B",inp=217393,gen=201422)
agg("Qwen3-235B-A22B","h100-sxm","4015.36","8730.69","qwen3-235b-a22b/h100.md","2025-11",n=8,ic="nvlink",settings="Qwen3-235B-A22B-Instruct-2507 -tp 8",inp=212894,gen=193865,extra="984 successful requests.")
agg("Qwen3-235B-A22B","h100-sxm","3592.57",None,"qwen3-235b-a22b/h100.md","2025-11",quant="fp8",bpw=8,n=4,ic="nvlink",settings="Qwen3-235B-A22B-Instruct-2507-FP8 -tp 4",inp=212992,gen=194446,extra="984 successful requests.")
# Qwen3-8B latency doc: max-concurrency 4, ShareGPT 100 prompts (avg 233 in / 221 out)
F="qwen3-8b/h100-latency.md"
for eng,ver,q,bpw,val,ttft,st in [("vllm","0.11.0","bf16",16,"496.88","64.00","vllm serve Qwen/Qwen3-8B"),
                                  ("sglang","0.5.3.post3","bf16",16,"525.59","27.70","sglang.launch_server defaults"),
                                  ("sglang","0.5.3.post3","fp8",8,"657.83","39.66","Qwen/Qwen3-8B-FP8")]:
    for metric,v in (("aggregate_tok_s",val),("ttft_ms",ttft)):
        R("gs",metric,v,"h100-sxm",eng,url=B+F,date="2025-10",engine_version=ver,quant=q,bits_per_weight=bpw,batch_or_concurrency=4,
          prompt_tokens=233,output_tokens=221,settings=st+"; vllm bench serve sharegpt --num-prompts 100 --max-concurrency 4",
          notes=("Output token throughput" if metric=="aggregate_tok_s" else "Mean TTFT")+" at max concurrency 4; avg in/out from totals 23260/22061 over 100 requests.",**M("Qwen3-8B"))
# Quantization reference doc (vLLM v0.9.2, Qwen3-8B, ShareGPT 1000 prompts)
F="references/the-impact-of-quantization-on-vllm-inference-performance.md"
for gpu,q,bpw,val,ttft,st in [("rtx4090","bf16",16,"3869.3","15385.7",""),("rtx4090","awq",4.25,"5653.4",None,"AWQ (default AWQ kernel)"),
                            ("rtx4090","gptq",4.25,"5025.82",None,"GPTQ Marlin (bits not stated in table row; INT4 assumed)"),
                            ("a100-80gb","bf16",16,"10338.25","3412.85","A100 80GB (form factor not stated)"),("a100-80gb","awq",4.25,"9611.61",None,"A100 80GB (form factor not stated)"),
                            ("h100-sxm","bf16",16,"13305.38","5172.78","H100 80GB (form factor not stated)"),("h100-sxm","fp8",8,"16452.52",None,"FP8 static (W8A8), H100 80GB")]:
    R("gs","aggregate_tok_s",val,gpu,"vllm",url=B+F,date="2025-11",engine_version="0.9.2",quant=q,bits_per_weight=bpw,batch_or_concurrency=1000,
      prompt_tokens=215,output_tokens=195,settings=(st+"; " if st else "")+"vllm bench serve sharegpt --num-prompts 1000",
      notes="Column reported as 'Throughput (tok/s)' without saying output vs total; the same doc set elsewhere summarises Total TPS, so this is probably input+output tokens/s. Avg in/out assumed ~215/195 (ShareGPT as in sibling docs).",**M("Qwen3-8B"))
    if ttft:
        R("gs","ttft_ms",ttft,gpu,"vllm",url=B+F,date="2025-11",engine_version="0.9.2",quant=q,bits_per_weight=bpw,batch_or_concurrency=1000,
          prompt_tokens=215,output_tokens=195,settings=(st+"; " if st else "")+"vllm bench serve sharegpt --num-prompts 1000",
          notes="Mean TTFT under saturation (1000 requests at once).",**M("Qwen3-8B"))
