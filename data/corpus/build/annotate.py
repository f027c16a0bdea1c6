#!/usr/bin/env python3
"""Writes data/corpus/capsim.csv: for every row of published.csv, how capsim reproduces it
(the scenario's settings and which summary field is the row's number), or why it cannot.

The rules are the ones stated in data/corpus/README.md ("How capsim uses the corpus");
every assumption a row needs is written into its `note`. Run from the repository root:
    python3 data/corpus/build/annotate.py
"""
import csv
import re
import sys

# capsim's name for each corpus GPU it has a datasheet for.
GPU = {
    'rtx2080': 'rtx2080', 'rtx2080ti': 'rtx2080ti', 'rtx3060': 'rtx3060', 'rtx3090': 'rtx3090',
    'rtx3090ti': 'rtx3090ti', 'rtx4090': 'rtx4090', 'rtx5090': 'rtx5090',
    'rtx4070-laptop': 'rtx4070-laptop', 'a6000': 'rtx-a6000', 'rtx6000-ada': 'rtx6000-ada',
    'rtx-pro-6000': 'rtx-pro-6000', 'l40s': 'l40s', 'a40': 'a40', 'a30': 'a30',
    'a100-40gb': 'a100-40g', 'a100-80gb': 'a100-80g', 'a100-80gb-pcie': 'a100-80g-pcie',
    'h100-pcie': 'h100-pcie', 'h100-sxm': 'h100-sxm', 'h100-nvl': 'h100-nvl', 'h200': 'h200',
}
DTYPE = {
    'bf16': 'bf16', 'fp16': 'fp16', 'fp8': 'fp8', 'int8': 'int8', 'awq': 'awq', 'gptq': 'gptq',
    'mxfp4': 'mxfp4', 'nvfp4': 'nvfp4', 'q4_0': 'q4_0', 'q4_k_m': 'q4_k_m', 'q6_k': 'q6_k',
    'q8_0': 'q8_0',
}
# capsim's preset for each corpus model it has a shape for (models/<preset>/config.json).
PRESET = {
    'Llama-3-8B': 'llama-3.1-8b', 'Llama-3.1-8B': 'llama-3.1-8b', 'Llama-3-70B': 'llama-3-70b',
    'Llama-3.1-70B': 'llama-3-70b', 'Llama-3.3-70B': 'llama-3-70b', 'Mistral-7B': 'mistral-7b',
    'gpt-oss-20b': 'gpt-oss-20b', 'gpt-oss-120b': 'gpt-oss-120b', 'Qwen3-8B': 'qwen3-8b',
    'Qwen3-14B': 'qwen3-14b', 'Qwen3-32B': 'qwen3-32b', 'Qwen2.5-Coder-1.5B': 'qwen2.5-1.5b',
    'Qwen3-Coder-30B-A3B': 'qwen3-coder-30b-a3b', 'Qwen3-30B-A3B': 'qwen3-30b-a3b',
    'Qwen3-235B-A22B': 'qwen3-235b-a22b', 'CodeLlama-7B': 'llama-2-7b', 'Llama-7B': 'llama-2-7b',
    'Llama-2-7B': 'llama-2-7b', 'Llama-2-13B': 'llama-2-13b', 'Llama-13B': 'llama-2-13b',
    'Llama-2-70B': 'llama-2-70b', 'CodeLlama-34B': 'codellama-34b',
    'Qwen2.5-Coder-32B': 'qwen2.5-coder-32b', 'Qwen2.5-32B': 'qwen2.5-coder-32b',
    'Qwen2.5-7B': 'qwen2.5-7b', 'Qwen2-7B': 'qwen2.5-7b', 'Qwen2.5-14B': 'qwen2.5-14b',
    'DeepSeek-R1-Distill-Qwen-14B': 'qwen2.5-14b', 'Mixtral-8x7B': 'mixtral-8x7b',
}
COLS = ['id', 'why_not', 'preset', 'gpu', 'gpus', 'replicas', 'weight_dtype', 'version', 'concurrency',
        'requests', 'prompt', 'output', 'n_ubatch', 'n_batch', 'parallel', 'ctx_size',
        'max_num_seqs', 'max_model_len', 'max_num_batched_tokens', 'eager', 'custom_ar_off',
        'async', 'offline', 'measure', 'note']

# Rows left out by hand, with the reason (from the corpus README's caveats and each row's notes).
EXCLUDE = {
    'xd-024': 'flagged in the corpus as a bad run (F16 prefill far below Q4_K_M on the same GPU)',
    'xd-036': 'flagged in the corpus as a bad run (F16 prefill far below Q4_K_M on the same GPU)',
    'lcg-014': 'the GPU hung off a Raspberry Pi CM5 host: a launch-bound host capsim does not model',
    'll-001': 'a 12 GB card cannot hold the 12.8 GB model: experts were likely offloaded to the CPU',
    'gs-014': 'pipeline parallelism is not modelled',
    'dt-008': 'the prompt length is not stated',
    'dm-001': 'vendor blog; requests ended early (EOS), so the output lengths are unknown',
    'dm-002': 'vendor blog; requests ended early (EOS), so the output lengths are unknown',
    'dm-003': 'vendor blog; requests ended early (EOS), so the output lengths are unknown',
    'dm-004': 'vendor blog; requests ended early (EOS), so the workload is unknown',
    'em-001': 'the prompt lengths are not stated',
    # Physically impossible as labelled: 1000 prompts of ~215 tokens of an 8.2B model are
    # 1000 x 215 x 2 x 8.2e9 = 3.5 PFLOP of prefill, 11.3 s at the A100's whole dense bf16
    # peak (312 TFLOPS), so requests sent at once cannot average a TTFT under ~5.6 s.
    'gs-041': 'a mean TTFT of 3.4 s for 1000 requests sent at once needs more than the A100\'s peak compute (3.5 PFLOP of prefill: at least ~5.6 s on average at 312 TFLOPS): not the run its label says',
}

# Serving rows whose requests ended early (EOS before max_tokens): the source's own output tok/s
# divided by its req/s gives the mean output length, which replaces the stated maximum. The
# spread is not published: capsim draws the outputs uniformly up to max, from where the mean
# comes out right (the widest uniform with that mean and no output over max_tokens), an
# assumption the note states. Fixed lengths would be wrong twice: too long, and lock-stepped.
PV = 'mushfiqrahman.dev: output tok/s / req/s'
ENDED_EARLY = {
    'pv-001': (128, 210 / 2.09, f'{PV} = 210 / 2.09 = 100.5'),
    'pv-002': (128, 210 / 2.09, f'{PV} = 210 / 2.09 = 100.5'),
    'pv-003': (128, 377 / 3.78, f'{PV} = 377 / 3.78 = 99.7'),
    'pv-004': (128, 377 / 3.78, f'{PV} = 377 / 3.78 = 99.7'),
    'pv-005': (128, 644 / 6.44, f'{PV} = 644 / 6.44 = 100.0'),
    'pv-006': (128, 644 / 6.44, f'{PV} = 644 / 6.44 = 100.0'),
    'pv-007': (128, 975 / 9.73, f'{PV} = 975 / 9.73 = 100.2'),
    'pv-008': (128, 975 / 9.73, f'{PV} = 975 / 9.73 = 100.2'),
    'pv-009': (128, 1190 / 11.87, f'{PV} = 1190 / 11.87 = 100.3'),
    'pv-010': (128, 1190 / 11.87, f'{PV} = 1190 / 11.87 = 100.3'),
}


def why_not(r):
    if r['id'] in EXCLUDE:
        return EXCLUDE[r['id']]
    if r['engine'] not in ('vllm', 'llamacpp'):
        return f"an engine capsim does not simulate: {r['engine']} {r['engine_version']}"
    if r['model'] not in PRESET:
        m = r['model']
        if re.match(r'Qwen3\.[5-9]|Qwen3-Coder-Next', m):
            why = 'a Gated-DeltaNet/attention hybrid, whose linear-attention state capsim does not model'
        elif 'DeepSeek-V2' in m:
            why = 'multi-head latent attention (MLA), which capsim does not model'
        else:
            why = 'no shipped config.json for it'
        return f"an architecture capsim has no shape for ({why}): {m}"
    if r['gpu'] not in GPU:
        return f"a GPU without a datasheet in capsim (not NVIDIA, or figures unpublished): {r['gpu']}"
    if r['quant'] not in DTYPE:
        return f"weight format '{r['quant']}' is not modelled"
    s = r['settings'] + ' ' + r['notes']
    if 'MTP' in s or 'speculative' in s.lower():
        return 'speculative decoding is not modelled'
    if 'Vulkan' in s:
        return 'measured on the Vulkan backend, not CUDA'
    if not re.fullmatch(r'\d+', r['batch_or_concurrency']):
        return f"no number of requests in flight: '{r['batch_or_concurrency']}'"
    if 'throughput (tok/s)' in r['notes'].lower() and 'output vs total' in r['notes'].lower():
        return 'the source does not say whether its throughput is output or total tokens'
    return ''


def annotate(r):
    a = {c: '' for c in COLS}
    a['id'] = r['id']
    a['why_not'] = why_not(r)
    a['preset'] = PRESET.get(r['model'], '')
    if a['why_not']:
        return a
    pid, s, notes = r['id'], r['settings'], r['notes']
    a['gpu'] = GPU[r['gpu']]
    a['weight_dtype'] = DTYPE[r['quant']]
    n = int(r['gpu_count'])
    conc = int(r['batch_or_concurrency'])
    a['concurrency'] = str(conc)
    prompt, output = r['prompt_tokens'], r['output_tokens']
    notes_out = []
    dp = re.search(r'\bdp ?2\b', s) is not None
    if n > 1 and dp:
        a['replicas'] = str(n)
    elif n > 1:
        a['gpus'] = str(n)
    llama = r['engine'] == 'llamacpp'
    bench = 'llama-bench' in s
    offline = bench or 'benchmark_latency' in s or 'offline' in s.lower()
    if offline:
        a['offline'] = 'yes'
    if r['engine'] == 'vllm':
        m = re.match(r'~?v?(\d+\.\d+(\.\d+)?)', r['engine_version'])
        if m:
            a['version'] = m.group(1)
        else:
            notes_out.append(f"vLLM version '{r['engine_version']}': the current (V1) scheduler assumed")
        if re.search(r'enforce.eager', s):
            a['eager'] = 'yes'
        if re.search(r'NCCL all-reduce \(before\)', s):
            a['custom_ar_off'] = 'yes'
        if 'async-scheduling' in s:
            a['async'] = 'yes'
        m = re.search(r'--max-num-seqs? (\d+)', s)
        if m:
            a['max_num_seqs'] = m.group(1)
        m = re.search(r'--max[-_]model[-_]len (\d+)', s)
        if m:
            a['max_model_len'] = m.group(1)
        m = re.search(r'--max[-_]num[-_]batched[-_]tokens (\d+)', s)
        if m:
            a['max_num_batched_tokens'] = m.group(1)
    kind = r['metric']
    if llama and bench:
        # llama-bench: ppN processes N prompt tokens in micro-batches of -ub; tgN generates N.
        ub = re.search(r'-ub (\d+)', s)
        if kind == 'decode_tok_s_single' and output not in ('', '0'):
            a['prompt'], a['output'], a['measure'] = '1', output, 'decode_rate'
            a['requests'] = '2'
            if prompt not in ('', '0'):
                a['prompt'] = prompt
        else:
            # pp rows, and the -ub sweeps recorded as decode/aggregate proxies: N prompt tokens
            # in micro-batches of ub.
            p = prompt if prompt not in ('', '0') else '512'
            a['prompt'], a['output'], a['measure'], a['requests'] = p, '1', 'prefill_rate', '1'
            a['concurrency'] = '1'
            a['n_ubatch'] = ub.group(1) if ub else '512'
            a['n_batch'] = str(max(int(p), int(a['n_ubatch'])))
            a['ctx_size'] = str(int(p) + 16)
            if ub and kind != 'prefill_tok_s':
                notes_out.append(f"llama-bench pp{p} at -ub {ub.group(1)}: a prompt in micro-batches of {ub.group(1)} tokens (the corpus' proxy for {ub.group(1)}-way batched decode)")
        if n > 1:
            notes_out.append('llama.cpp multi-GPU: default layer split')
        return finish(a, notes_out)
    # Serving and latency benchmarks.
    if kind == 'decode_tok_s_single':
        a['measure'] = 'decode_rate'
        a['requests'] = '3'
        if prompt == '' or output == '':
            notes_out.append('lengths not stated: 128 prompt and 256 output tokens assumed (a decode rate barely depends on them)')
            prompt = prompt or '128'
            output = output or '256'
    elif kind == 'aggregate_tok_s':
        a['measure'] = 'output_throughput'
    elif kind == 'ttft_ms':
        # The first statistic the note names is the value's ("Mean TTFT ... (median/P99 also
        # on page)", "ttft_p50_ms ..."); the others it mentions are on the page, not in the row.
        first = re.search(r'mean|median|p50', notes, re.I)
        a['measure'] = 'median_ttft' if first and first.group(0).lower() != 'mean' else 'mean_ttft'
    elif kind == 'prefill_tok_s':
        return dict(a, why_not='a serving prefill rate without its measurement method', **{})
    if prompt == '' or output == '':
        a['why_not'] = 'the prompt or output length is not stated'
        return a
    a['prompt'], a['output'] = prompt, output
    if kind != 'decode_tok_s_single':
        m = re.search(r'(\d+) (?:prompts|requests)', s + ' ' + notes)
        if 'benchmark_latency' in s or 'batch' in s.lower() and offline:
            a['requests'] = str(conc)
            notes_out.append(f'one batch of {conc} requests sent together')
        elif m:
            a['requests'] = m.group(1)
        else:
            a['requests'] = str(max(4 * conc, 40))
            notes_out.append(f'request count not stated: {a["requests"]} assumed')
    ended = ENDED_EARLY.get(pid)
    totals = re.search(r'totals \d+ in, (\d+) generated', notes)
    if totals and output:
        # A run that prints its generated total: requests that stopped at EOS before their
        # max_tokens (no --ignore-eos) bring the mean below the asked length.
        n = int(a['requests'])
        mean = int(totals.group(1)) / n
        if mean < 0.98 * int(output):
            ended = (int(output), mean, f'{totals.group(1)} generated / {n} requests = {mean:.1f}')
    if ended:
        most, mean, how = ended
        assert str(most) == output, (pid, output)
        # capsim rounds a drawn length up, which adds half a token to the mean: the range is
        # set so that the lengths it gives average `mean`.
        lo = round(2 * mean - 1 - most)
        assert 1 <= lo <= most, (pid, lo, most)
        a['output'] = f'{lo}..{most}'
        notes_out.append(f'requests ended early (EOS): mean output {mean:.1f} tokens of {most} asked ({how}); '
                         f'drawn uniformly from {lo}..{most}, a spread the source does not give')
    if llama:
        a['parallel'] = str(max(conc, 1))
        a['ctx_size'] = str(max(conc, 1) * (int(prompt) + int(output) + 16))
        notes_out.append(f'llama-server with {a["parallel"]} slots assumed')
    if 'ShareGPT' in notes or 'sharegpt' in s:
        notes_out.append('ShareGPT lengths taken at their stated means')
    return finish(a, notes_out)


def finish(a, notes):
    a['note'] = '; '.join(notes)
    return a


def main():
    rows = list(csv.DictReader(open('data/corpus/published.csv')))
    out = [annotate(r) for r in rows]
    with open('data/corpus/capsim.csv', 'w', newline='') as f:
        w = csv.DictWriter(f, fieldnames=COLS, lineterminator='\n')
        w.writeheader()
        w.writerows(out)
    used = [a for a in out if not a['why_not']]
    print(f'{len(used)} of {len(out)} rows used', file=sys.stderr)


if __name__ == '__main__':
    main()
