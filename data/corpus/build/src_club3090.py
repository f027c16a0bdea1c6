from rows_base import R, M
B="https://github.com/noonghunna/club-3090/blob/4a29ab57d42a1d587de1042fa5dfd9535f94a063/BENCHMARKS.md"
HY="Qwen3.6 family = Gated-DeltaNet/attention hybrid (small KV). club-3090 canonical bench: single stream, 800-word essay prompt (short prompt), max_tokens 1000; 'decode' = decode-only TPS."
MO=M("Qwen3.6-35B-A3B")
def row(metric,val,gpu,n,ic,ver,q,bpw,settings,notes,date,conc=1,pt="",ot=1000,engine="vllm",model=MO,url=B):
    R("c3",metric,val,gpu,engine,url=url,date=date,engine_version=ver,quant=q,bits_per_weight=bpw,gpu_count=n,interconnect=ic,batch_or_concurrency=conc,prompt_tokens=pt,output_tokens=ot,settings=settings,notes=notes,**model)
# MoE 35B-A3B, no spec decode
row("decode_tok_s_single","186.98","rtx3090",2,"pcie","nightly bf610c2f (post-#42521)","autoround-int4",4.25,"TP=2, fp8_e5m2 KV, 16K ctx, no MTP, 230 W cap, custom AR off (PCIe)","Narrative decode TPS (wall 182.68); TTFT 126 ms; GPU0 99%/GPU1 85% util. "+HY,"2026-05-15")
row("ttft_ms","126","rtx3090",2,"pcie","nightly bf610c2f (post-#42521)","autoround-int4",4.25,"TP=2, fp8_e5m2 KV, 16K ctx, no MTP, 230 W cap","TTFT for the short canonical prompt, single stream. "+HY,"2026-05-15",pt=30)
row("decode_tok_s_single","182.3","rtx3090",2,"pcie","0.22.0","autoround-int4",4.25,"TP=2 (vllm/qwen-35b-a3b-dual), fp8_e5m2 KV, 262K ctx, no MTP","Production row; narrative/code decode 182.3/182.3. "+HY,"2026-05-30")
row("decode_tok_s_single","252.0","rtx5090",2,"pcie","as shipped compose (v0.22+)","autoround-int4",4.25,"TP=2, PCIe 5.0 x8, no NVLink, no power cap, fp8 e4m3 KV, 262K","Same compose as the 2x3090 182.3 row (~1.4x). TTFT 42 ms. "+HY,"2026-08-02")
row("prefill_tok_s","20879","rtx5090",2,"pcie","as shipped compose (v0.22+)","autoround-int4",4.25,"TP=2, PCIe 5.0 x8, fp8 e4m3 KV","PP tok/s @10K-token prompt (15,216 @90K). "+HY,"2026-08-02",pt=10000,ot=0)
row("decode_tok_s_single","255.8","rtx5090",1,"","0.24.0","nvfp4",4.5,"TP=1, nvidia modelopt NVFP4 MoE (FP8 attention), fp8 KV, 131K, PCIe x4, 600 W","Native FP4 GEMM on Blackwell; TTFT 60 ms. "+HY,"2026-07-07")
row("decode_tok_s_single","274.1","rtx5090",2,"pcie","as shipped compose","nvfp4",4.5,"TP=2, NVFP4, PCIe 5.0 x8, no NVLink, fp8 KV, 262K","TP=2 vs TP=1 NVFP4 255.8 -> only +7% single-stream decode from a second card. "+HY,"2026-08-02")
row("decode_tok_s_single","179.5","rtx3090",2,"pcie","not stated","nvfp4",4.5,"TP=2, unsloth Qwen3.6-35B-A3B-NVFP4-Fast on Ampere (no FP4 tensor cores), fp8 KV, 262K","Statistical tie with AutoRound INT4 (182.3). Prefill 8289 tok/s @10K (5155 @90K). "+HY,"2026-07-11")
row("prefill_tok_s","8289","rtx3090",2,"pcie","not stated","nvfp4",4.5,"TP=2, NVFP4 weights on Ampere, fp8 KV","PP @10K prompt (TTFT 1.2 s); 5155 tok/s @90K (TTFT 17.9 s). "+HY,"2026-07-11",pt=10000,ot=0)
# concurrency sweep (vLLM v0.24.0, 2x3090 PCIe, 35B-A3B dual, MTP off)
for n,per,agg in [(2,"133.0","266"),(4,"68.0","272"),(8,"32.6","261"),(16,"15.4","246")]:
    row("aggregate_tok_s",agg,"rtx3090",2,"pcie","0.24.0","autoround-int4",4.25,"TP=2, concurrency-probe.sh SWEEP, agent shape 16K prompt / 256 gen, MTP off",
        f"'decode-agg' = median per-stream decode {per} tok/s x N (not wall-clock). End-to-end generated tok/s at 16K contexts is prefill-bound (~93-121). "+HY,"2026-07-10",conc=n,pt=16000,ot=256)
row("aggregate_tok_s","1037","rtx3090",2,"pcie","0.24.0","autoround-int4",4.25,"TP=2, concurrency-probe.sh, generation shape 512 prompt / 800 gen, MTP off",
    "Aggregate = summed completion tokens / wall at N=16 (92.8 tok/s per stream, retention 99.4%). "+HY,"2026-07-10",conc=16,pt=512,ot=800)
# Gemma 4 26B-A4B AWQ MoE, TP=2 2x3090, no MTP
row("decode_tok_s_single","139.92","rtx3090",2,"pcie","nightly bf610c2f + PR #40886 overlay","awq",4.25,"TP=2, cyankiwi gemma-4-26B-A4B-it-AWQ-4bit, 32K ctx, 230 W cap, no MTP",
    "Narrative decode (wall 138.88); TTFT 53 ms. Gemma 4 26B-A4B MoE (~26B total / ~4B active).","2026-05-15",model=dict(model="Gemma-4-26B-A4B",params_b=26.0,active_params_b=4.0,moe="true"))
# NVLink vs PCIe A/B, dense Qwen3.6-27B, vLLM TP=2, MTP n=3 (spec decode!) -- same rig, 230 W cap
D=dict(model="Qwen3.6-27B",params_b=27.0,active_params_b=27.0,moe="false")
row("decode_tok_s_single","89.24","rtx3090",2,"pcie","nightly-01d4d1ad3 (Genesis v7.72.2)","autoround-int4",4.25,"TP=2 dual.yml, NVLink bridge present but NCCL_P2P_DISABLE=1 (PCIe path), custom AR off, fp8 KV, MTP n=3 speculative decoding",
    "WALL TPS narrative (code 114.57). Controlled A/B partner of the NVLink row (same rig, 230 W cap). SPECULATIVE DECODING (MTP n=3) ON. "+HY,"2026-05-06",model=D)
row("decode_tok_s_single","102.09","rtx3090",2,"nvlink","nightly-01d4d1ad3 (Genesis v7.72.2)","autoround-int4",4.25,"TP=2 dual-nvlink.yml, NVLink + custom all-reduce enabled, fp8 KV, MTP n=3 speculative decoding",
    "WALL TPS narrative (code 131.59); +14% vs same-rig PCIe path (89.24). SPECULATIVE DECODING ON. "+HY,"2026-05-06",model=D)
U698="https://github.com/noonghunna/club-3090/issues/698"
row("decode_tok_s_single","73.41","rtx3090",2,"nvlink","0.24.0","autoround-int4",4.25,"TP=2, NVLink NV4, NCCL_P2P_LEVEL=NVL, custom all-reduce on, fp8_e5m2 KV, max-num-seqs 2, MTP n=3, 250 W/GPU",
    "Narrative decode TPS; quoted PCIe dual.yml v0.24.0 reference = 70.7 (+3.8% for NVLink). TTFT 139 ms; 10K prefill 1956 tok/s. SPECULATIVE DECODING ON. "+HY,"2026-07-13",model=D,url=U698)
row("prefill_tok_s","1956.39","rtx3090",2,"nvlink","0.24.0","autoround-int4",4.25,"TP=2, NVLink NV4, custom all-reduce on, fp8_e5m2 KV",
    "10K-token prefill (90K: 1472.52 tok/s). "+HY,"2026-07-13",model=D,url=U698,pt=10000,ot=0)
# 2x RTX 5090 P2P (patched driver, custom AR) vs forced off, Qwen3.6-35B-A3B NVFP4, vLLM 0.25.1, no MTP
U873="https://github.com/noonghunna/club-3090/issues/873"
for lbl,ic,dec,pf in [("P2P GRANTED (patched driver, PCIe peer-to-peer), custom all-reduce ENGAGED","pcie","288.1","13464"),("NVLINK_MODE=force_off: NCCL_P2P_DISABLE=1, custom all-reduce OFF","pcie","222.8","12101")]:
    row("decode_tok_s_single",dec,"rtx5090",2,ic,"0.25.1","nvfp4",4.5,"TP=2, "+lbl,"Narrative decode TPS, same rig/model/date A/B (P2P +29.4%). TTFT 55 vs 57 ms. "+HY,"2026-08-04",url=U873)
    row("prefill_tok_s",pf,"rtx5090",2,ic,"0.25.1","nvfp4",4.5,"TP=2, "+lbl,"Prefill-10K tok/s (90K: 14087 P2P vs 11317 off). "+HY,"2026-08-04",url=U873,pt=10000,ot=0)
