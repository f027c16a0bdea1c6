from rows_base import R, M
import os, re
URL="https://github.com/XiongjieDai/GPU-Benchmarks-on-LLM-Inference/blob/aa72e0ec86c356c41f8281c9733e9a13c3675800/README.md"
DATE="2024-05"
GPUMAP={"3090 24GB":("rtx3090",1),"4090 24GB":("rtx4090",1),"3090 24GB * 2":("rtx3090",2),"4090 24GB * 2":("rtx4090",2),
 "3090 24GB * 4":("rtx3090",4),"RTX A6000 48GB":("a6000",1),"L40S 48GB":("l40s",1),
 "A100 PCIe 80GB":("a100-80gb-pcie",1),"A100 SXM 80GB":("a100-80gb",1),"H100 PCIe 80GB":("h100-pcie",1),
 "H100 PCIe 80GB * 4":("h100-pcie",4),"M2 Ultra 76-Core GPU 192GB":("m2-ultra",1),
 }
KEEP_MODELS={"8B Q4_K_M":("Llama-3-8B","q4_k_m",4.85),"8B F16":("Llama-3-8B","fp16",16),"70B Q4_K_M":("Llama-3-70B","q4_k_m",4.85),"70B F16":("Llama-3-70B","fp16",16)}
def load():
    t=open(os.path.join(os.path.dirname(os.path.abspath(__file__)),"xiongjie_llama3_tables.md")).read()
    sec=t.split("### LLaMA 3")[1]
    rows=[]; gpu=None
    for line in sec.splitlines():
        if not line.startswith("|") or "---" in line or "GPU" in line and "Model" in line: continue
        cells=[c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells)!=10: continue
        if cells[0]: gpu=cells[0]
        rows.append((gpu,cells[1],cells[2:]))
    return rows
for gpu,model,vals in load():
    if gpu not in GPUMAP or model not in KEEP_MODELS: continue
    g,n=GPUMAP[gpu]; mname,q,bpw=KEEP_MODELS[model]
    tg512,pp512=vals[0],vals[4]
    if n>1 and not model.startswith("70B"): continue   # multi-GPU only for 70B (models that need it)
    common=dict(gpu_count=n, interconnect=("pcie" if n>1 else ""), engine_version="unknown (May 2024, make LLAMA_CUBLAS=1; Metal for Apple)",
                quant=q, bits_per_weight=bpw, batch_or_concurrency=1,
                settings="llama-bench -p 512,1024,4096,8192 -n 512,1024,4096,8192; -ngl all"+("; multi-GPU default layer split (-sm layer)" if n>1 else ""), **M(mname))
    note_ic = "; interconnect not stated (RunPod pods), assumed PCIe" if n>1 else ""
    gnote = " GPU label in source: '%s'."%gpu
    if tg512!="OOM":
        R("xd","decode_tok_s_single",tg512,g,"llamacpp",url=URL,date=DATE,prompt_tokens=0,output_tokens=512,
          notes="llama-bench tg512 (generate 512 tokens from empty context); CUDA 12.1.1 on RunPod; Llama 3 %s."%model+gnote+note_ic, **common)
    if pp512!="OOM":
        extra=""
        if (gpu,model) in {("L40S 48GB","8B F16"),("A100 SXM 80GB","8B F16")}: extra=" ANOMALY: F16 pp far below Q4_K_M pp on same GPU (likely a bad run); treat with caution."
        R("xd","prefill_tok_s",pp512,g,"llamacpp",url=URL,date=DATE,prompt_tokens=512,output_tokens=0,
          notes="llama-bench pp512; CUDA 12.1.1 on RunPod; Llama 3 %s."%model+gnote+note_ic+extra, **common)
