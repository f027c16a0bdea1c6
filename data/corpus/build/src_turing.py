from rows_base import R, M
U1="https://github.com/weicj/vLLM-2080Ti-Definitive/blob/6120afb4807ae584371517ba64ef2e1d8e7e8318/docs/benchmarks/qwen38-gptq-int4-benchmark.md"
U2="https://github.com/weicj/vLLM-2080Ti-Definitive/blob/1292694086504e597da389270e6f398347bc93e1/profiles/2x2080Ti/README.md"
C=dict(gpu_count=2, interconnect="nvlink", batch_or_concurrency=1, prompt_tokens=4096, output_tokens=128)
HY=" Model is a Qwen3.5/3.6-family hybrid (Gated DeltaNet + attention) 27B dense; 2x RTX 2080 Ti 22GB (VRAM-modded) over NVLink NV2, TP=2; no speculative decoding."
for model,ver,dec,pre,st,extra in [
  ("Qwen3.8-27B","fork v0.1.16 (base vLLM 0.21.0)","54.7","1741.4","TP=2, GPTQ INT4 g128 sym (Marlin on SM75), INT8 KV, no MTP, max-num-seqs 1","Config B."),
  ("Qwen3.6-27B","fork v0.1.16 (base vLLM 0.21.0)","50.3","1795.5","TP=2, GPTQ INT4 (Marlin on SM75), FP16 KV, no MTP","From comparison table in same doc.")]:
    R("tu","decode_tok_s_single",dec,"rtx2080ti-22gb","vllm",url=U1,date="2026-08-21",engine_version="weicj/vLLM-2080Ti-Definitive "+ver,quant="gptq",bits_per_weight=4.25,settings=st,
      notes="PP4096/TG128 benchmark, one request at a time."+HY+" "+extra,**C,**M(model))
    R("tu","prefill_tok_s",pre,"rtx2080ti-22gb","vllm",url=U1,date="2026-08-21",engine_version="weicj/vLLM-2080Ti-Definitive "+ver,quant="gptq",bits_per_weight=4.25,settings=st,
      notes="Prefill of 4096-token prompt."+HY+" "+extra,**C,**M(model))
for model,q,bpw,dec,pre,st,extra in [
  ("Qwen3.8-27B","fp8",8,"33.17","1694.94","TP=2, Qwen3.8-27B-FP8 run as W8A16 on SM75 (no FP8 tensor cores), FP16 KV, no MTP (profile nomtp-fp16kv-1x176K)",HY),
  ("Qwen3.6-35B-A3B","fp8",8,"113.63","6690.07","TP=2, Qwen3.6-35B-A3B-FP8 as W8A16 on SM75, FP16 KV, no MTP (profile nomtp-fp16kv-1x262K)"," MoE 35B total / ~3B active; 2x RTX 2080 Ti 22GB NVLink NV2, TP=2.")]:
    R("tu","decode_tok_s_single",dec,"rtx2080ti-22gb","vllm",url=U2,date="2026-09-19",engine_version="weicj/vLLM-2080Ti-Definitive v0.2.1",quant=q,bits_per_weight=bpw,settings=st,
      notes="4K/128 lane: exactly 4096 in / 128 out, median of 3, one request at a time, prefix cache off."+extra,**C,**M(model))
    R("tu","prefill_tok_s",pre,"rtx2080ti-22gb","vllm",url=U2,date="2026-09-19",engine_version="weicj/vLLM-2080Ti-Definitive v0.2.1",quant=q,bits_per_weight=bpw,settings=st,
      notes="4K/128 lane prefill rate."+extra,**C,**M(model))
