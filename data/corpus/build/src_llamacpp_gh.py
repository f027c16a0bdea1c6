from rows_base import R, M
# llama.cpp PR #4766 (ggerganov, 2024-01-10): RTX 4090, codellama-7b, llama-bench default (pp 512 / tg 128), ngl 99
U="https://github.com/ggml-org/llama.cpp/pull/4766"
for q,bpw,pp,tg in [("fp16",16,"11048.22","61.03"),("q8_0",8.5,"7664.00","98.13"),("q4_0",4.5,"7979.85",None)]:
    R("lcg","prefill_tok_s",pp,"rtx4090","llamacpp",url=U,date="2024-01-10",engine_version="PR #4766 branch (Jan 2024), LLAMA_CUBLAS=1",quant=q,bits_per_weight=bpw,batch_or_concurrency=1,prompt_tokens=512,output_tokens=0,settings="llama-bench -ngl 99 (default n_batch 512)",notes="llama-bench 'pp 512' for codellama-7b (llama 7B arch). Comment by ggerganov repeating tests after ggml-backend integration.",**M("CodeLlama-7B"))
    if tg: R("lcg","decode_tok_s_single",tg,"rtx4090","llamacpp",url=U,date="2024-01-10",engine_version="PR #4766 branch (Jan 2024), LLAMA_CUBLAS=1",quant=q,bits_per_weight=bpw,batch_or_concurrency=1,prompt_tokens=0,output_tokens=128,settings="llama-bench -ngl 99",notes="llama-bench 'tg 128' for codellama-7b.",**M("CodeLlama-7B"))
# llama.cpp PR #19053 (merged 2026-02-03) perf table (read via a proxy copy of the PR page)
U="https://github.com/ggml-org/llama.cpp/pull/19053"
for gpu,model,q,bpw,test,val,note in [
  ("rtx6000-ada","gpt-oss-20b","mxfp4",4.25,"tg128","253.79",""),
  ("rtx6000-ada","gpt-oss-20b","mxfp4",4.25,"pp8096","8404.05",""),
  ("rtx6000-ada","Llama-3.1-8B","q4_0",4.5,"tg128","168.87","model label 'llama 8B Q4_0' (Llama-3-family 8B assumed)."),
  ("rtx6000-ada","Llama-3.1-8B","q4_0",4.5,"pp8096","8008.29","model label 'llama 8B Q4_0' (Llama-3-family 8B assumed)."),
  ("rtx-pro-6000-maxq","gpt-oss-20b","mxfp4",4.25,"tg128","352.58","RTX PRO 6000 Blackwell Max-Q Workstation Edition."),
  ("rtx-pro-6000-maxq","gpt-oss-20b","mxfp4",4.25,"pp8096","12582.80","RTX PRO 6000 Blackwell Max-Q Workstation Edition.")]:
    metric="decode_tok_s_single" if test.startswith("tg") else "prefill_tok_s"
    R("lcg",metric,val,gpu,"llamacpp",url=U,date="2026-02",engine_version="master at PR #19053 (Feb 2026)",quant=q,bits_per_weight=bpw,batch_or_concurrency=1,
      prompt_tokens=(8096 if metric=="prefill_tok_s" else 0),output_tokens=(128 if metric!="prefill_tok_s" else 0),settings="llama-bench (compare-llama-bench 'master' column)",
      notes=f"Read via a proxy copy (hdoplus.com) of the PR page. llama-bench {test}, 't/s master' column of the PR's perf table. {note}".strip(),**M(model))
# llama.cpp PR #15631 (JohannesGaessler, Aug 2025): RTX 4090 gpt-oss-20b pp4096 by ubatch
U="https://github.com/ggml-org/llama.cpp/pull/15631"
R("lcg","prefill_tok_s","11078.32","rtx4090","llamacpp",url=U,date="2025-08",engine_version="master at PR #15631 (late Aug 2025)",quant="mxfp4",bits_per_weight=4.25,batch_or_concurrency=1,prompt_tokens=4096,output_tokens=0,
  settings="llama-bench -ub 1024 (microbatch 1024)",notes="pp4096 't/s master' with microbatch size 1024; 2048 gives 10649.30, 4096 gives 8950.94. Date approximate (from PR number).",**M("gpt-oss-20b"))
R("lcg","decode_tok_s_single","194.24","rtx4090","llamacpp",url=U,date="2025-08",engine_version="master at PR #15631 (late Aug 2025)",quant="q4_0",bits_per_weight=4.5,batch_or_concurrency=1,prompt_tokens=4096,output_tokens=0,
  settings="llama-bench -ub 1 (microbatch 1), pp4096",notes="NOT a standard metric: pp4096 processed with microbatch size 1, i.e. 4096 sequential single-token forward passes over a growing KV cache; useful as a proxy for single-stream MoE decode speed averaged over 0-4096 depth. PROXY row: not tg128; filter on settings if only clean tg128 wanted. Qwen3-30B-A3B Q4_0.",**M("Qwen3-30B-A3B"))
# geerlingguy/ai-benchmarks issue #46: RTX 2080 Ti CUDA, llama-2-13b Q4_K_M
U="https://github.com/geerlingguy/ai-benchmarks/issues/46"
R("lcg","prefill_tok_s","1493.64","rtx2080ti","llamacpp",url=U,date="2025-12-18",engine_version="build f9ec8858e (7474)",quant="q4_k_m",bits_per_weight=4.85,batch_or_concurrency=1,prompt_tokens=512,output_tokens=0,
  settings="llama-bench -fa 1 -n 128 -p 512,2048 -pg 2048,128 -ngl 99 -r 2 -mmp 0; CUDA backend",notes="CAVEAT: this table is under the 'Pi CM5 16GB' heading, i.e. the 2080 Ti was attached to a Raspberry Pi Compute Module 5 over a narrow PCIe link (model fully offloaded, so pp/tg mostly GPU-bound). 'CUDA comparison for llama2 13B' comment; model file llama-2-13b.Q4_K_M.gguf (7.33 GiB, 13.02 B). tg128 row not visible in the excerpt read.",**M("Llama-2-13B"))
# microbatch-size sweeps from JohannesGaessler PR perf tables ("t/s master" column). pp at -ub N = N tokens per forward pass.
PROXY=("ubatch sweep: pp{pp} run with microbatch size {ub}. ub=1 => token-by-token forward passes (proxy for single-stream decode over 0..{pp} depth); "
       "1<ub<512 => N tokens per pass, a proxy for N-way batched decode of the same weights (attention differs from true multi-sequence decode); ub=512 => normal prefill.")
def sweep(url,date,ver,gpu,model,q,bpw,pp,pts,label):
    for ub,val in pts:
        if ub==1: metric="decode_tok_s_single"
        elif ub>=512: metric="prefill_tok_s"
        else: metric="aggregate_tok_s"
        R("lcg",metric,val,gpu,"llamacpp",url=url,date=date,engine_version=ver,quant=q,bits_per_weight=bpw,batch_or_concurrency=ub if metric=="aggregate_tok_s" else 1,
          prompt_tokens=pp,output_tokens=0,settings=f"llama-bench -p {pp} -ub {ub}",notes=PROXY.format(pp=pp,ub=ub)+f" Model label '{label}'.",**M(model) if model in __import__('rows_base').MODELS else model_dict(model))
def model_dict(m):
    return {"DeepSeek-V2-Lite":dict(model="DeepSeek-V2-Lite",params_b=15.7,active_params_b=2.4,moe="true")}[m]
sweep("https://github.com/ggml-org/llama.cpp/pull/20586","2026-03","master at PR #20586 (~Mar 2026; date approximate)","rtx3090","gpt-oss-20b","mxfp4",4.25,512,
      [(1,"238.89"),(8,"507.06"),(32,"1228.01"),(512,"4739.20")],"gpt-oss 20B MXFP4 MoE")
sweep("https://github.com/ggml-org/llama.cpp/pull/15631","2025-08","master at PR #15631 (late Aug 2025; date approximate)","rtx4090","Qwen3-30B-A3B","q4_0",4.5,4096,
      [(8,"580.35"),(32,"1519.77")],"qwen3moe 30B.A3B Q4_0")
sweep("https://github.com/ggml-org/llama.cpp/pull/15525","2025-08","master at PR #15525 (Aug 2025; date approximate)","rtx3090","DeepSeek-V2-Lite","q4_0",4.5,512,
      [(1,"180.89"),(8,"374.09"),(32,"854.65"),(512,"4260.97")],"deepseek2 16B Q4_0")
# llama.cpp PR #16991 "CUDA: add stream-based concurrency" (ORippler comment, ~Nov 2025): RTX PRO 6000 Blackwell Workstation, gpt-oss-20b
U="https://github.com/ggml-org/llama.cpp/pull/16991"
for metric,val,test,pt,ot in [("decode_tok_s_single","391.20","tg128",0,128),("prefill_tok_s","5127.80","pp128",128,0)]:
    R("lcg",metric,val,"rtx-pro-6000","llamacpp",url=U,date="2025-11",engine_version="PR #16991 era (Nov 2025; date approximate)",quant="mxfp4",bits_per_weight=4.25,batch_or_concurrency=1,
      prompt_tokens=pt,output_tokens=ot,settings="llama-bench -ngl 99 -ub 2048 -fa 1",notes=f"llama-bench {test} (gpt-oss 20B MXFP4 MoE, 11.27 GiB); tg128 @ d512 = 383.66. Which branch (master vs PR) this table is from is not visible in the excerpt.",**M("gpt-oss-20b"))
