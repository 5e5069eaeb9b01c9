#!/usr/bin/env python3
"""ARM cost projection for bge-small-en-v1.5 and Qwen3-Embedding-0.6B (issue 17).

A PROJECTION, NOT A MEASUREMENT. It scales the x86 titles/s of benches/README.md to Arm
Neoverse N1 (AWS Graviton2) and Neoverse V1 (AWS Graviton3) cores by peak arithmetic rate:

  1. FLOPs per title of each encoder at the mean bench-title length (2 x multiply-adds):
     every dense layer (BERT: q, k, v, attention output, intermediate, output; Qwen3: q, k, v,
     o, gate, up, down) and the two attention products (scores Q.K^T and context P.V, over the
     full L x L matrix, as a batched kernel with a mask computes them). Ignored: the embedding
     lookup, LayerNorm / RMSNorm (and Qwen3's q/k norms), RoPE, softmax, GELU / SiLU, biases,
     residual additions, pooling, L2 normalisation, tokenisation, and batch padding (length-
     sorted batches of 32 pad the 1,000 bench titles from 18.78 to 19.02 WordPiece tokens each,
     +1.3%).
  2. The fraction of peak our x86 kernels reach end to end: measured titles/s x FLOPs per title
     / peak of the x86 host (an ASSUMED clock and per-core rate, see X86 below), once for the
     f32 path and once for the int8 path, from all-MiniLM-L6-v2 (6 BERT layers of the same
     shape as bge-small's 12).
  3. titles/s per Arm core = efficiency x peak of that core for that kernel kind / FLOPs per
     title. f32 FMA uses the f32 efficiency; sdot, smmla/usmmla and bfmmla use the int8 one
     (measured where the int8 peak is 4x the f32 peak, as sdot and bfmmla are on N1 / V1; for
     smmla, 8x the f32 peak on V1, the same fraction of peak is optimistic, since the work
     outside the products does not speed up). bfmmla has no kernel in this repository.

Under this model the Qwen3 / bge-small cost ratio on one kernel kind is the FLOPs ratio.

Usage (standard library only; `tokenizers` only for --tokenizer):

    python3 scripts/arm_projection.py                      # the recorded token counts
    .venv-bench/bin/python scripts/arm_projection.py \\
        --tokenizer models/all-MiniLM-L6-v2/tokenizer.json  # recount the bench titles
    python3 scripts/arm_projection.py --x86-ghz 2.6 --qwen-tokens 24.2   # other assumptions
"""

import argparse
import json
import os
import statistics

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Architectures. bge-small-en-v1.5: BGE_CFG in scripts/make_synthetic_models.py and
# shared/design/SPEC.md ("The two models of that swap"). Qwen3-Embedding-0.6B: make_qwen3() in
# scripts/make_synthetic_models.py and SPEC.md. all-MiniLM-L6-v2: models/all-MiniLM-L6-v2/config.json.
MODELS = {
    "all-MiniLM-L6-v2": dict(kind="bert", layers=6, hidden=384, heads=12, kv_heads=12, head_dim=32, ffn=1536),
    "bge-small-en-v1.5": dict(kind="bert", layers=12, hidden=384, heads=12, kv_heads=12, head_dim=32, ffn=1536),
    "Qwen3-Embedding-0.6B": dict(kind="qwen3", layers=28, hidden=1024, heads=16, kv_heads=8, head_dim=128,
                                 ffn=3072),
}

# Mean WordPiece tokens per title (incl. [CLS] and [SEP]) of the first 1,000 lines of
# data/bench_titles.txt (the batch-32 set of `cargo xtask bench`), counted with
# models/all-MiniLM-L6-v2/tokenizer.json by --tokenizer; all 1,200 lines give 18.87 (the 18.9
# of benches/README.md).
BERT_TOKENS = 18.778
# No Qwen3 tokenizer file is in the repository. Estimate: Qwen3 tokens = QWEN_RATIO x WordPiece
# tokens without [CLS]/[SEP], + 1 for the appended <|endoftext|>. The Qwen2/Qwen3 pre-tokeniser
# (the QWEN_PATTERN of scripts/generate_fixtures.py) cuts the same 1,000 titles into 16.73
# pieces each against 16.78 WordPiece tokens (ratio 0.997); every piece is at least one token,
# so the real count is at least this and higher where a rare word splits. The stand-in BPE of
# scripts/make_synthetic_models.py (60,000 entries) gives 24.2 (benches/README.md, 2026-11-28).
QWEN_RATIO = 1.0

# The measured x86 run the efficiencies come from: benches/README.md, "2026-12-04: the titlesim
# Python package beside the CLI and ONNX Runtime from Python", CPU line `x86_64 AMD EPYC,
# 2 logical cores, features: avx2, fma, avx512f, avx512_vnni, avx512_bf16`, thread budget 2,
# 1,000 titles at batch 32, all-MiniLM-L6-v2, titlesim candle.
MEASURED = dict(date="2026-12-04", model="all-MiniLM-L6-v2", threads=2, f32_titles_s=325.5,
                int8_titles_s=601.1)

# The x86 host: ASSUMPTIONS, not measurements. The CPU line says only "AMD EPYC"; the
# development host that prints the same line reports CPU family 25, model 17 in /proc/cpuinfo
# (Zen 4, EPYC 9004 "Genoa"). Zen 4 has four 256-bit vector pipes, two of them FMA pipes, and
# runs a 512-bit instruction as two 256-bit halves: 2 x 8 = 16 f32 FMAs per cycle per core;
# `vpdpbusd` (64 u8 x i8 multiply-adds per 512-bit instruction) taken as one 512-bit (or two
# 256-bit) per cycle: 64 MACs per cycle per core. Clock: 3.7 GHz, the highest boost of the EPYC
# 9004 line (its TSC runs at 2.6 GHz); the lower the real clock, the higher the efficiency and
# every projected rate (x 3.7 / clock). The 2 logical cores are taken as 2 physical cores.
X86 = dict(name="AMD EPYC (Zen 4, assumed)", cores=2, ghz=3.7, f32_macs=16, int8_macs=64)

# Arm cores: multiply-adds per cycle per core = pipes x instructions per pipe per cycle x MACs
# per 128-bit instruction. Pipes and throughputs: Arm Neoverse N1 / V1 Software Optimization
# Guides, as encoded in LLVM's scheduling models (llvm/lib/Target/AArch64/
# AArch64SchedNeoverseN1.td, AArch64SchedNeoverseV1.td, which cite them). MACs per instruction
# from the Arm ARM: FMLA .4s 4; SDOT .4s 16 (4 lanes x 4 bytes); SMMLA/USMMLA 32 (2x8 by 8x2);
# BFMMLA 16 (2x4 by 4x2). Clocks: AWS Graviton2 2.5 GHz, Graviton3 2.6 GHz (AWS EC2 instance
# pages; WikiChip "AWS Graviton3").
KERNELS = ("f32 FMA (NEON fmla)", "int8 sdot", "int8 smmla/usmmla", "bf16 bfmmla")
ARM = {
    "Neoverse N1 (Graviton2)": dict(ghz=2.5, macs={
        KERNELS[0]: (2 * 4, "2 x 128-bit FP/ASIMD pipes (V0, V1), FMLA 1/cycle each"),
        KERNELS[1]: (2 * 16, "SDOT on both pipes, 1/cycle each (N1 SOG; LLVM leaves it in the "
                             "generic ASIMD class, both pipes)"),
        KERNELS[2]: (None, "no FEAT_I8MM"),
        KERNELS[3]: (None, "no FEAT_BF16"),
    }),
    "Neoverse V1 (Graviton3)": dict(ghz=2.6, macs={
        KERNELS[0]: (4 * 4, "4 x 128-bit FP/ASIMD pipes (V0-V3), FMLA 1/cycle each (= 2 x 256-bit SVE)"),
        KERNELS[1]: (4 * 16, "SDOT on V0-V3, 1/cycle each"),
        KERNELS[2]: (4 * 32, "SMMLA/USMMLA on V0-V3, 1/cycle each"),
        KERNELS[3]: (4 * 16, "BFMMLA on V0-V3, 1/cycle each (latency 5); least certain figure"),
    }),
}


def macs_per_title(m, tokens):
    """Multiply-adds of one encoder pass over one title of `tokens` tokens: (dense, attention)."""
    h, q, kv = m["hidden"], m["heads"] * m["head_dim"], m["kv_heads"] * m["head_dim"]
    if m["kind"] == "bert":
        dense = 4 * h * h + 2 * h * m["ffn"]  # q, k, v, output; intermediate, output
    else:
        dense = h * q + 2 * h * kv + q * h + 3 * h * m["ffn"]  # q, k, v, o; gate, up, down
    attention = 2 * m["heads"] * tokens * tokens * m["head_dim"]  # Q.K^T and P.V, full L x L
    return m["layers"] * dense * tokens, m["layers"] * attention


def flops_per_title(name, tokens):
    dense, attention = macs_per_title(MODELS[name], tokens)
    return 2.0 * (dense + attention)


def count_tokens(tokenizer_path, titles_path, n):
    """Mean WordPiece tokens (with [CLS]/[SEP]) and mean Qwen2/Qwen3 pre-tokeniser pieces."""
    from tokenizers import Regex, Tokenizer, pre_tokenizers

    with open(titles_path, encoding="utf-8") as f:
        titles = [line.strip() for line in f if line.strip()][:n]
    tok = Tokenizer.from_file(tokenizer_path)
    tok.no_padding()
    tok.no_truncation()
    wordpiece = statistics.mean(len(e.ids) for e in tok.encode_batch(titles))
    split = pre_tokenizers.Split(Regex(_qwen_pattern()), behavior="isolated", invert=False)
    pieces = statistics.mean(len(split.pre_tokenize_str(t)) for t in titles)
    return wordpiece, pieces, len(titles)


def _qwen_pattern():
    """QWEN_PATTERN of scripts/generate_fixtures.py, read from its source (importing it needs torch)."""
    import ast

    with open(os.path.join(ROOT, "scripts", "generate_fixtures.py"), encoding="utf-8") as f:
        tree = ast.parse(f.read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "QWEN_PATTERN" for t in node.targets):
            return ast.literal_eval(node.value)
    raise SystemExit("QWEN_PATTERN not found in scripts/generate_fixtures.py")


def project(bert_tokens, qwen_tokens):
    ref = MEASURED["model"]
    ref_flops = flops_per_title(ref, bert_tokens)
    f32_peak = X86["cores"] * X86["f32_macs"] * 2 * X86["ghz"] * 1e9
    int8_peak = X86["cores"] * X86["int8_macs"] * 2 * X86["ghz"] * 1e9
    eff = {
        "f32": MEASURED["f32_titles_s"] * ref_flops / f32_peak,
        "int8": MEASURED["int8_titles_s"] * ref_flops / int8_peak,
    }
    models = {"bge-small-en-v1.5": bert_tokens, "Qwen3-Embedding-0.6B": qwen_tokens}
    flops = {name: flops_per_title(name, t) for name, t in models.items()}
    rows = []
    for core, c in ARM.items():
        for kernel in KERNELS:
            macs, why = c["macs"][kernel]
            row = dict(core=core, kernel=kernel, basis=why)
            if macs is None:
                row.update(peak_gops=None, efficiency=None)
                rows.append(row)
                continue
            peak = macs * 2 * c["ghz"] * 1e9
            e = eff["f32"] if kernel.startswith("f32") else eff["int8"]
            row.update(peak_gops=peak / 1e9, efficiency=e)
            for name, f in flops.items():
                rate = e * peak / f
                row[name] = dict(titles_s=rate, ms=1e3 / rate)
            rows.append(row)
    return dict(tokens=models, ref_tokens=bert_tokens, ref_flops=ref_flops, flops=flops,
                x86_peak_gflops=dict(f32=f32_peak / 1e9, int8=int8_peak / 1e9), efficiency=eff, rows=rows,
                ratio=flops["Qwen3-Embedding-0.6B"] / flops["bge-small-en-v1.5"])


def markdown(p):
    out = []
    bge, qwen = "bge-small-en-v1.5", "Qwen3-Embedding-0.6B"
    out.append("Tokens per title: %s %.2f (WordPiece), %s %.2f (estimate)." % (
        bge, p["tokens"][bge], qwen, p["tokens"][qwen]))
    out.append("FLOPs per title: %s %.1f MFLOP, %s %.2f GFLOP (ratio %.1fx); %s %.1f MFLOP at %.2f tokens." % (
        bge, p["flops"][bge] / 1e6, qwen, p["flops"][qwen] / 1e9, p["ratio"], MEASURED["model"],
        p["ref_flops"] / 1e6, p["ref_tokens"]))
    out.append("x86 (%s, %d cores x %.1f GHz): peak %.1f GFLOP/s f32, %.1f GOP/s int8; measured %s %s: "
               "f32 %.1f titles/s -> %.1f%% of peak, int8 %.1f titles/s -> %.1f%% of peak." % (
                   X86["name"], X86["cores"], X86["ghz"], p["x86_peak_gflops"]["f32"], p["x86_peak_gflops"]["int8"],
                   MEASURED["date"], MEASURED["model"], MEASURED["f32_titles_s"], 100 * p["efficiency"]["f32"],
                   MEASURED["int8_titles_s"], 100 * p["efficiency"]["int8"]))
    out.append("")
    out.append("| core | kernel | peak GOP/s per core | efficiency used | bge-small titles/s per core | "
               "bge-small ms/title | Qwen3-0.6B titles/s per core | Qwen3-0.6B ms/title | Qwen3 / bge-small |")
    out.append("|---|---|--:|--:|--:|--:|--:|--:|--:|")
    for r in p["rows"]:
        if r["peak_gops"] is None:
            out.append("| %s | %s | n/a (%s) | | | | | | |" % (r["core"], r["kernel"], r["basis"]))
            continue
        out.append("| %s | %s | %.1f | %.1f%% | %.1f | %.2f | %.2f | %.0f | %.1fx |" % (
            r["core"], r["kernel"], r["peak_gops"], 100 * r["efficiency"], r[bge]["titles_s"], r[bge]["ms"],
            r[qwen]["titles_s"], r[qwen]["ms"], r[qwen]["ms"] / r[bge]["ms"]))
    out.append("")
    out.append("Peak per core (multiply-adds per cycle x 2 x clock), basis:")
    for core, c in ARM.items():
        for kernel in KERNELS:
            macs, why = c["macs"][kernel]
            rate = "n/a" if macs is None else "%d MACs/cycle at %.1f GHz" % (macs, c["ghz"])
            out.append("- %s, %s: %s; %s" % (core, kernel, rate, why))
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tokenizer", help="WordPiece tokenizer.json to count the bench titles with "
                                        "(needs the `tokenizers` package); default: the recorded %.3f" % BERT_TOKENS)
    ap.add_argument("--titles", default=os.path.join(ROOT, "data", "bench_titles.txt"),
                    help="titles file for --tokenizer (default: data/bench_titles.txt)")
    ap.add_argument("--n-titles", type=int, default=1000, help="first N titles (the bench's batch-32 set)")
    ap.add_argument("--bert-tokens", type=float, help="mean WordPiece tokens per title (overrides the count)")
    ap.add_argument("--qwen-ratio", type=float, default=QWEN_RATIO,
                    help="Qwen3 tokens per WordPiece token, [CLS]/[SEP] excluded (estimate)")
    ap.add_argument("--qwen-tokens", type=float, help="mean Qwen3 tokens per title (overrides --qwen-ratio)")
    ap.add_argument("--x86-ghz", type=float, default=X86["ghz"], help="assumed clock of the measured x86 host")
    ap.add_argument("--x86-cores", type=int, default=X86["cores"], help="physical cores behind the 2 threads")
    ap.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    a = ap.parse_args()

    X86["ghz"], X86["cores"] = a.x86_ghz, a.x86_cores
    bert_tokens = BERT_TOKENS
    notes = []
    if a.tokenizer:
        bert_tokens, pieces, n = count_tokens(a.tokenizer, a.titles, a.n_titles)
        notes.append("Counted over %d titles: %.3f WordPiece tokens (incl. [CLS]/[SEP]); Qwen2/Qwen3 "
                     "pre-tokeniser pieces %.3f (a lower bound of Qwen3 tokens before <|endoftext|>), "
                     "ratio to WordPiece content tokens %.3f." % (n, bert_tokens, pieces, pieces / (bert_tokens - 2)))
    if a.bert_tokens:
        bert_tokens = a.bert_tokens
    qwen_tokens = a.qwen_tokens if a.qwen_tokens else a.qwen_ratio * (bert_tokens - 2) + 1
    p = project(bert_tokens, qwen_tokens)
    if a.json:
        print(json.dumps(dict(p, notes=notes, x86=X86, measured=MEASURED), indent=1))
        return
    for n in notes:
        print(n)
    print("PROJECTION, not a measurement.")
    print(markdown(p))


if __name__ == "__main__":
    main()
