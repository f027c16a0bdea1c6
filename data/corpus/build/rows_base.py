# Row builder for published.csv. Each row must come from a source actually read.
import csv, collections
COLS="id,metric,value,unit,gpu,gpu_count,interconnect,engine,engine_version,model,params_b,active_params_b,moe,quant,bits_per_weight,batch_or_concurrency,prompt_tokens,output_tokens,settings,source_url,source_date,notes".split(",")
ROWS=[]
_counters=collections.Counter()
def R(prefix, metric, value, gpu, engine, model, quant, url, date, **kw):
    unit = kw.pop("unit", "ms" if metric=="ttft_ms" else "tok/s")
    _counters[prefix]+=1
    row=dict(id=f"{prefix}-{_counters[prefix]:03d}", metric=metric, value=value, unit=unit, gpu=gpu,
             gpu_count=kw.pop("gpu_count",1), interconnect=kw.pop("interconnect",""), engine=engine,
             engine_version=kw.pop("engine_version",""), model=model, quant=quant,
             source_url=url, source_date=date)
    for c in COLS:
        if c not in row: row[c]=kw.pop(c,"")
    assert not kw, kw
    assert metric in ("decode_tok_s_single","prefill_tok_s","aggregate_tok_s","ttft_ms"), metric
    ROWS.append(row)
MODELS={ # name: (params_b, active_params_b, moe)
 "Llama-3-8B":(8.03,8.03,"false"), "Llama-3-70B":(70.6,70.6,"false"),
 "Llama-2-7B":(6.74,6.74,"false"), "Llama-2-13B":(13.0,13.0,"false"), "CodeLlama-7B":(6.74,6.74,"false"),
 "Llama-3.1-8B":(8.03,8.03,"false"), "Llama-3.1-70B":(70.6,70.6,"false"),
 "Mistral-7B":(7.25,7.25,"false"), "Qwen3-8B":(8.19,8.19,"false"), "Qwen3-14B":(14.8,14.8,"false"),
 "Qwen3-32B":(32.8,32.8,"false"), "Qwen3-4B":(4.02,4.02,"false"),
 "Qwen3-30B-A3B":(30.5,3.3,"true"), "gpt-oss-20b":(20.9,3.6,"true"), "gpt-oss-120b":(116.8,5.1,"true"),
 "Qwen3-235B-A22B":(235,22,"true"), "Qwen3.6-27B":(27.0,27.0,"false"), "Qwen3.8-27B":(27.0,27.0,"false"), "Qwen3.6-35B-A3B":(35.0,3.0,"true"), "Qwen3-Coder-Next-80B-A3B":(80.0,3.0,"true"), "Llama-2-70B":(69.0,69.0,"false"), "Gemma-3-4B":(4.3,4.3,"false"), "Mixtral-8x7B":(46.7,12.9,"true"), "Qwen2-7B":(7.62,7.62,"false"),
}
def M(name):
    p,a,m=MODELS[name]; return dict(model=name, params_b=p, active_params_b=a, moe=m)
def write(path):
    with open(path,"w",newline="") as f:
        w=csv.DictWriter(f,fieldnames=COLS,lineterminator="\n"); w.writeheader()
        for r in ROWS: w.writerow(r)
