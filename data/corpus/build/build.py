import os
import sys, collections
sys.path.insert(0, __import__('os').path.dirname(__file__))
import rows_base
SRC=["src_syv","src_xiongjie","src_llamacpp_gh","src_gpustack","src_pages_vllm","src_issues","src_club3090","src_turing","src_exl2","src_misc","src_misc2","src_gpustack_random","src_vllm_bench"]
for s in SRC: __import__(s)
R=rows_base.ROWS
ids=[r["id"] for r in R]; assert len(ids)==len(set(ids))
rows_base.write(os.path.join(os.path.dirname(__file__), "..", "published.csv"))
C=collections.Counter
print("total",len(R))
for k in ["engine","metric","gpu","moe","quant"]:
    print(k, dict(C(r[k] for r in R).most_common()))
print("multi-gpu", sum(1 for r in R if int(r["gpu_count"])>1))
