"""Peers for `cargo xtask bench` (run by the head2head binary; never in CI).

Measures one peer on all-MiniLM-L6-v2 with the same titles and thread budget as the Rust side,
and prints one JSON line (the fields of head2head's Measurement) on stdout:

  --peer ort   ONNX Runtime from Python on the fp32 export (models/all-MiniLM-L6-v2/onnx/model.onnx)
               with the `tokenizers` library: intra-op threads = --threads, inter-op 1, spinning
               off, graph optimisation ALL; length-sorted batches of 32, padding to the longest
               of each batch, truncation at max_seq_length (256), mean pooling + L2 normalisation.
  --peer st    sentence-transformers on torch (torch.set_num_threads(--threads)); encode() sorts by
               length itself.
  --peer titlesim  the titlesim Python package (crates/python, built in release mode) on candle f32,
               Model(folder, threads=--threads).encode(texts, batch_size): the same kernels as the
               CLI's candle row, so the difference between the two rows is the package's overhead.

Both: load time, titles/s at batch 32 over --titles titles (after one warm-up batch), p50/p99 ms
and titles/s at batch 1 over --latency-titles titles spread over them, peak RSS (ru_maxrss), and
the vectors (raw little-endian f32, original title order) written to --vectors for parity.

Set-up (optional): python3 -m venv .venv-bench &&
  .venv-bench/bin/pip install onnxruntime==1.31.1 tokenizers sentence-transformers ./crates/python
"""

import argparse
import json
import os
import resource
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def spread(titles, n):
    if n >= len(titles):
        return list(titles)
    return [titles[i * len(titles) // n] for i in range(n)]


def pct(xs, p):
    v = sorted(xs)
    import math

    rank = max(1, min(len(v), math.ceil(p / 100.0 * len(v))))
    return v[rank - 1]


def peak_rss_mb():
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / 1024.0 if sys.platform.startswith("linux") else r / (1024.0 * 1024.0)


class OrtPeer:
    def __init__(self, folder, threads):
        import numpy as np
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.np = np
        with open(os.path.join(folder, "sentence_bert_config.json"), encoding="utf-8") as f:
            self.max_len = json.load(f).get("max_seq_length", 256)
        self.tok = Tokenizer.from_file(os.path.join(folder, "tokenizer.json"))
        self.tok.no_padding()
        self.tok.enable_truncation(self.max_len)
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        so.add_session_config_entry("session.inter_op.allow_spinning", "0")
        self.sess = ort.InferenceSession(os.path.join(folder, "onnx", "model.onnx"), so,
                                         providers=["CPUExecutionProvider"])
        self.inputs = [i.name for i in self.sess.get_inputs()]

    def encode(self, texts, batch_size):
        np = self.np
        encs = self.tok.encode_batch(texts)
        order = sorted(range(len(texts)), key=lambda i: -len(encs[i].ids))
        out = [None] * len(texts)
        for s in range(0, len(order), batch_size):
            idx = order[s:s + batch_size]
            L = max(len(encs[i].ids) for i in idx)
            ids = np.zeros((len(idx), L), dtype=np.int64)
            am = np.zeros((len(idx), L), dtype=np.int64)
            for r, i in enumerate(idx):
                e = encs[i].ids
                ids[r, :len(e)] = e
                am[r, :len(e)] = 1
            feed = {"input_ids": ids, "attention_mask": am}
            if "token_type_ids" in self.inputs:
                feed["token_type_ids"] = np.zeros_like(ids)
            hs = self.sess.run(None, feed)[0]
            m = am[:, :, None].astype(np.float32)
            v = (hs * m).sum(1) / np.clip(m.sum(1), 1e-9, None)
            v /= np.clip(np.linalg.norm(v, axis=1, keepdims=True), 1e-12, None)
            for r, i in enumerate(idx):
                out[i] = v[r]
        return np.stack(out).astype(np.float32)


class StPeer:
    def __init__(self, folder, threads):
        import torch
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(threads)
        torch.set_num_interop_threads(1)
        self.m = SentenceTransformer(folder, device="cpu")

    def encode(self, texts, batch_size):
        import numpy as np

        return np.asarray(self.m.encode(texts, batch_size=batch_size, convert_to_numpy=True,
                                        show_progress_bar=False), dtype=np.float32)


class TitlesimPeer:
    def __init__(self, folder, threads):
        import titlesim

        self.m = titlesim.Model(folder, backend="candle", threads=threads)

    def encode(self, texts, batch_size):
        return self.m.encode(texts, batch_size=batch_size)


PEERS = {"ort": OrtPeer, "st": StPeer, "titlesim": TitlesimPeer}


def main():
    ap = argparse.ArgumentParser(description="titlesim bench peers (see module docstring)")
    ap.add_argument("--peer", choices=sorted(PEERS), required=True)
    ap.add_argument("--model", required=True, help="the all-MiniLM-L6-v2 folder")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--titles-file", required=True)
    ap.add_argument("--titles", type=int, default=1000)
    ap.add_argument("--latency-titles", type=int, default=200)
    ap.add_argument("--vectors", required=True)
    a = ap.parse_args()
    with open(a.titles_file, encoding="utf-8") as f:
        titles = [t.strip() for t in f if t.strip()][:a.titles]
    lat = spread(titles, a.latency_titles)
    t0 = time.perf_counter()
    peer = PEERS[a.peer](a.model, a.threads)
    load_s = time.perf_counter() - t0
    peer.encode(titles[:32], 32)
    peer.encode(lat[:1], 1)
    t0 = time.perf_counter()
    vecs = peer.encode(titles, 32)
    b32 = len(titles) / (time.perf_counter() - t0)
    ms = []
    t1 = time.perf_counter()
    for t in lat:
        s = time.perf_counter()
        peer.encode([t], 1)
        ms.append((time.perf_counter() - s) * 1e3)
    b1 = len(lat) / (time.perf_counter() - t1)
    with open(a.vectors, "wb") as f:
        f.write(vecs.astype("<f4").tobytes())
    import importlib.metadata as md

    # Only the measured peer's packages: an ORT-only venv has no sentence-transformers.
    if a.peer == "ort":
        note = "onnxruntime %s" % md.version("onnxruntime")
    elif a.peer == "titlesim":
        note = "titlesim %s (Python package, candle f32)" % md.version("titlesim")
    else:
        note = "sentence-transformers %s, torch %s" % (md.version("sentence-transformers"), md.version("torch"))
    print(json.dumps({
        "load_s": load_s, "n_titles": len(titles), "b32_titles_per_s": b32, "b1_p50_ms": pct(ms, 50),
        "b1_p99_ms": pct(ms, 99), "b1_titles_per_s": b1, "peak_rss_mb": peak_rss_mb(),
        "dim": int(vecs.shape[1]), "note": note,
    }))


if __name__ == "__main__":
    main()
