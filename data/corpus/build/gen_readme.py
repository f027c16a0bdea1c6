import os
HERE=os.path.dirname(os.path.abspath(__file__))
import csv, collections
R=list(csv.DictReader(open(os.path.join(HERE,'..','published.csv'))))
C=collections.Counter
def table(key, rows=R):
    c=C(r[key] for r in rows)
    out=["| %s | rows |"%key,"|---|---:|"]
    for k,v in sorted(c.items(), key=lambda x:(-x[1],x[0])): out.append(f"| {k or '(empty)'} | {v} |")
    return "\n".join(out)
def cross(k1,k2):
    c=C((r[k1],r[k2]) for r in R); a=sorted({r[k1] for r in R}); b=sorted({r[k2] for r in R})
    out=["| %s \\ %s | "%(k1,k2)+" | ".join(b)+" | total |","|---|"+"---:|"*(len(b)+1)]
    for x in a: out.append(f"| {x} | "+" | ".join(str(c[(x,y)] or "") for y in b)+f" | {sum(c[(x,y)] for y in b)} |")
    return "\n".join(out)
srcs=C(r['source_url'] for r in R)
head=open(os.path.join(HERE,'README_head.md')).read()
tail=open(os.path.join(HERE,'README_tail.md')).read()
counts=f"""## Counts

Total rows: **{len(R)}** from **{len(srcs)}** distinct source URLs. Multi-GPU rows (gpu_count>1): {sum(1 for r in R if int(r['gpu_count'])>1)}. Rows whose value is DERIVED (see notes): {sum(1 for r in R if 'DERIVED' in r['notes'])}. Proxy rows (llama.cpp microbatch sweeps): {sum(1 for r in R if 'ubatch sweep' in r['notes'] or 'PROXY' in r['notes'])}.

### engine x metric
{cross('engine','metric')}

### by GPU
{table('gpu')}

### by gpu_count
{table('gpu_count')}

### MoE vs dense
{table('moe')}

### by quant
{table('quant')}

### MoE rows by engine x metric
{cross('engine','metric').replace('| engine','| engine') if False else ''}
"""
moeR=[r for r in R if r['moe']=='true']
c=C((r['engine'],r['metric']) for r in moeR)
counts+= "| engine | "+" | ".join(sorted({r['metric'] for r in R}))+" |\n|---|"+"---:|"*4+"\n"
for e in sorted({r['engine'] for r in moeR}):
    counts+= f"| {e} | "+" | ".join(str(c[(e,m)] or "") for m in sorted({r['metric'] for r in R}))+" |\n"
src_list="\n".join(f"- ({n} rows) {u}" for u,n in srcs.most_common())
open(os.path.join(HERE,'..','README.md'),'w').write(head+"\n"+counts+"\n"+tail.replace("@@SOURCE_URLS@@",src_list))
print("ok")
