#!/usr/bin/env python3
"""Write a tiny random-weight LLaMA-architecture GGUF model for the live tests.

The tokenizer is copied from a vocab-only GGUF of the llama.cpp source tree
(models/ggml-vocab-llama-spm.gguf, 32000 tokens), so llama-server can tokenize and
detokenize; the weights are seeded random numbers, so the text is gibberish but every
step costs what a real model of this shape costs.

    make-tiny-gguf.py --vocab VOCAB.gguf --out MODEL.gguf [--layers 8 --hidden 1024 ...]

Sizes: the default (8 layers, hidden 1024, 16/4 heads, FFN 2816, f16) is ~310 MB and takes a
few ms per decode step on 2 CPU cores, so batching is visible; `--layers 2 --hidden 64
--heads 4 --kv-heads 2 --ffn 128` is ~0.5 ms per step, for quick functional tests.
Needs the PyPI packages gguf and numpy.
"""

import argparse
import sys

import numpy as np
import gguf


def copy_tokenizer(reader: gguf.GGUFReader, writer: gguf.GGUFWriter) -> int:
    """Copies every tokenizer.* key; returns the vocabulary size."""
    n_vocab = 0
    for field in reader.fields.values():
        name = field.name
        if not name.startswith("tokenizer."):
            continue
        vtype = field.types[0]
        if vtype == gguf.GGUFValueType.ARRAY:
            sub = field.types[1]
            if sub == gguf.GGUFValueType.STRING:
                values = [bytes(field.parts[i]).decode("utf-8", errors="surrogateescape") for i in field.data]
            else:
                values = [field.parts[i].tolist()[0] for i in field.data]
            writer.add_array(name, values)
            if name == "tokenizer.ggml.tokens":
                n_vocab = len(values)
        elif vtype == gguf.GGUFValueType.STRING:
            writer.add_string(name, bytes(field.parts[field.data[0]]).decode("utf-8"))
        else:
            value = field.parts[field.data[0]].tolist()[0]
            writer.add_key_value(name, value, vtype)
    if n_vocab == 0:
        sys.exit("make-tiny-gguf: the vocab file has no tokenizer.ggml.tokens")
    return n_vocab


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--vocab", required=True, help="vocab-only GGUF (llama.cpp models/ggml-vocab-llama-spm.gguf)")
    p.add_argument("--out", required=True)
    p.add_argument("--layers", type=int, default=8)
    p.add_argument("--hidden", type=int, default=1024)
    p.add_argument("--heads", type=int, default=16)
    p.add_argument("--kv-heads", type=int, default=4)
    p.add_argument("--ffn", type=int, default=2816)
    p.add_argument("--ctx", type=int, default=32768)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    if a.hidden % a.heads or a.heads % a.kv_heads:
        sys.exit("make-tiny-gguf: hidden must divide by heads, heads by kv-heads")

    reader = gguf.GGUFReader(a.vocab)
    writer = gguf.GGUFWriter(a.out, "llama")
    writer.add_name("capsim-tiny-llama")
    writer.add_context_length(a.ctx)
    writer.add_embedding_length(a.hidden)
    writer.add_block_count(a.layers)
    writer.add_feed_forward_length(a.ffn)
    writer.add_head_count(a.heads)
    writer.add_head_count_kv(a.kv_heads)
    writer.add_rope_dimension_count(a.hidden // a.heads)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_rope_freq_base(10000.0)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    n_vocab = copy_tokenizer(reader, writer)
    writer.add_vocab_size(n_vocab)

    rng = np.random.default_rng(a.seed)
    head_dim = a.hidden // a.heads
    kv = a.kv_heads * head_dim

    def mat(rows: int, cols: int) -> np.ndarray:
        return (rng.standard_normal((rows, cols), dtype=np.float32) * (1.0 / np.sqrt(cols))).astype(np.float16)

    def norm() -> np.ndarray:
        return np.ones(a.hidden, dtype=np.float32)

    writer.add_tensor("token_embd.weight", mat(n_vocab, a.hidden))
    for i in range(a.layers):
        b = f"blk.{i}."
        writer.add_tensor(b + "attn_norm.weight", norm())
        writer.add_tensor(b + "attn_q.weight", mat(a.hidden, a.hidden))
        writer.add_tensor(b + "attn_k.weight", mat(kv, a.hidden))
        writer.add_tensor(b + "attn_v.weight", mat(kv, a.hidden))
        writer.add_tensor(b + "attn_output.weight", mat(a.hidden, a.hidden))
        writer.add_tensor(b + "ffn_norm.weight", norm())
        writer.add_tensor(b + "ffn_gate.weight", mat(a.ffn, a.hidden))
        writer.add_tensor(b + "ffn_up.weight", mat(a.ffn, a.hidden))
        writer.add_tensor(b + "ffn_down.weight", mat(a.hidden, a.ffn))
    writer.add_tensor("output_norm.weight", norm())
    writer.add_tensor("output.weight", mat(n_vocab, a.hidden))

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


if __name__ == "__main__":
    main()
