from rows_base import R, M
U="https://github.com/syv-ai/qwen38-27b-rtx3090/blob/2ae239fc0250cd29d37f35c6a31e9eae749ef1c8/batch/README.md"
MD=M("Qwen3.8-27B")
HY=" Qwen3.8-27B is a 27B dense Gated-DeltaNet/attention hybrid (16 full-attention layers). RTX 3090 power-limited to 250 W. Batch mode = no speculative decoding."
Q="W4A16 AutoRound body + int8 lm_head/embeddings, fp16 recurrent state, int8 activations on MLP GEMMs (batch-mode default), fp8 KV"
def r(metric,val,conc,pt,ot,notes,q="int4-w4a16+int8act",settings=Q,url=U,ver="0.27.1 (+repo patches)",date="2026-08",n=1,ic=""):
    R("sy",metric,val,"rtx3090","vllm",url=url,date=date,engine_version=ver,quant=q,bits_per_weight=4.25,gpu_count=n,interconnect=ic,batch_or_concurrency=conc,prompt_tokens=pt,output_tokens=ot,settings=settings,notes=notes+HY,**MD)
r("decode_tok_s_single","46",1,256,256,"vllm bench serve random 256/256, 1 concurrent: steady decode 46, e2e 46 tok/s, median TPOT 21.7 ms.")
r("ttft_ms","230",1,256,256,"Median TTFT, 256-token prompt, 1 concurrent.")
r("aggregate_tok_s","942",64,128,512,"Output tok/s end-to-end at 64 concurrent (256 requests); steady-state decode ~1,094 tok/s once all 64 resident; median TPOT 62.2 ms.")
r("aggregate_tok_s","673",64,256,256,"Output tok/s e2e at 64 concurrent, 256/256 (steady decode ~1,094; e2e includes everyone's prefill and ramp).")
r("aggregate_tok_s","707",64,128,512,"Older config 'W4A16, fp16 state' (no int8 activations): e2e 707 tok/s, steady decode ~830.",q="int4-w4a16",settings="W4A16 AutoRound, fp16 recurrent state, no int8 activations, fp8 KV")
for c,e2e,dec,ttft in [(2,"81.8","83.7","197"),(4,"153.8","162.7","343"),(8,"298.4","321.0","638")]:
    r("aggregate_tok_s",e2e,c,"",1024,f"Cohort protocol: {c} concurrent realistic chat prompts (bench/prompts_real.jsonl), 1,024-token answers; e2e {e2e}, decode {dec} tok/s, mean TTFT {ttft} ms.")
r("prefill_tok_s","1812",1,1024,1,"Prefill-only (1-token outputs), int8-activation path; TTFT 0.56 s. 16k: 1,595; 64k: 1,182; 100k: 997 tok/s.")
r("prefill_tok_s","1210",1,1024,1,"Prefill with pure W4A16 kernels (single-user mode kernels); TTFT 0.85 s; 16k: 1,112; 64k: 906 tok/s.",q="int4-w4a16",settings="W4A16 AutoRound kernels (INT8_ACT unset)")
r("prefill_tok_s","906",1,65536,1,"Prefill at 64k input with pure W4A16 kernels; single-request TTFT 72 s.",q="int4-w4a16",settings="W4A16 AutoRound kernels (INT8_ACT unset)")
# issue #135: multi-card runs on vLLM 0.28, 350 W cap, batch profile
U2="https://github.com/syv-ai/qwen38-27b-rtx3090/issues/135"
for lbl,n,ic,c64,e2e,c1 in [("0+1, TP=2, PIX (same PCIe switch; custom all-reduce likely engaged)",2,"pcie","1014","948","69.5"),
                          ("0+2, TP=2, PHB (across host bridge; NCCL likely)",2,"pcie","1250","1171","68.8"),
                          ("0-3, TP=4 (mixed topology)",4,"pcie","995","928","85.8")]:
    r("aggregate_tok_s",e2e,64,128,512,f"{lbl}: e2e output tok/s at C64 (steady decode {c64}). Single-card reference (250 W) ~1,035 decode / 948 e2e: TP adds no batch throughput.",url=U2,ver="0.28 (repo stack)",date="2026-09-23",n=n,ic=ic,settings=Q+"; batch profile; "+lbl+"; 350 W cap")
    r("decode_tok_s_single",c1,1,"",1024,f"{lbl}: C1 decode on realistic prompts (single-card reference 46 tok/s) => TP={n} gives {float(c1)/46:.2f}x single-stream.",url=U2,ver="0.28 (repo stack)",date="2026-09-23",n=n,ic=ic,settings=Q+"; batch profile; "+lbl+"; 350 W cap")
