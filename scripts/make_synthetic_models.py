"""Architecture-faithful random-weight models for benchmarking (never run in CI).

Writes, under models/synthetic/ (git-ignored, like the rest of models/):

  bge-small-en-v1.5-random/       BERT with the exact config of BAAI/bge-small-en-v1.5 (12 layers,
                                  hidden 384, 12 heads, FFN 1536, vocab 30522, 512 positions),
                                  CLS pooling + Normalize, max_seq_length 512, all-MiniLM-L6-v2's
                                  uncased WordPiece tokenizer files (the same 30522-token vocabulary
                                  bge-small uses); model.safetensors (fp32) + onnx/model.onnx (fp32).
  Qwen3-Embedding-0.6B-random/    Qwen3 with the exact config of Qwen/Qwen3-Embedding-0.6B (28 layers,
                                  hidden 1024, 16 query / 8 KV heads, head_dim 128, FFN 3072, vocab
                                  151669, RMSNorm eps 1e-6, RoPE theta 1e6, tied embeddings), last-token
                                  pooling + Normalize, left padding, the real prompts; model.safetensors
                                  stored in bfloat16 like the real checkpoint; onnx/model.onnx (fp32,
                                  the bf16 weights widened) + onnx/model.onnx.data (external data, > 2 GB).

The weights are RANDOM (spread init of scripts/generate_fixtures.py): the vectors are meaningless,
only the cost (FLOPs, memory traffic, parameter count, token counts) is faithful. Each folder
carries a README.md saying so, and config.json a "_titlesim_note".

Tokenizer of the Qwen3 folder: the real Qwen2 byte-level BPE (151k entries) is not available
offline, so this script trains a byte-level BPE with the Qwen2 pre-tokeniser regex on English
words (the all-MiniLM vocabulary, lower-case and Capitalised, with and without a leading space),
60,000 learned entries, + <|endoftext|>/<|im_start|>/<|im_end|>, appending <|endoftext|> like the
real one. It prints the mean tokens per bench title for it and for the WordPiece tokenizer.

Usage (torch, transformers, sentence-transformers, onnx, onnxruntime; ~10-20 min on 2 cores,
a few GB of RAM; no network):

    /root/venvs/gen/bin/python scripts/make_synthetic_models.py [--only bge|qwen3] [--skip-onnx]
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import warnings  # noqa: E402

warnings.filterwarnings("ignore")

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import generate_fixtures as gf  # noqa: E402  (main() is guarded; importing only defines helpers)

ROOT = gf.ROOT
MODELS = os.environ.get("TITLESIM_MODELS_DIR", os.path.join(ROOT, "models"))
OUT = os.path.join(MODELS, "synthetic")
MINILM = os.path.join(MODELS, "all-MiniLM-L6-v2")
TITLES = os.path.join(ROOT, "data", "bench_titles.txt")

NOTE = ("RANDOM WEIGHTS: architecture-faithful synthetic model written by scripts/make_synthetic_models.py "
        "for benchmarking only. The vectors are meaningless; only the cost is faithful.")


def log(*a):
    print("[%7.1fs]" % (time.time() - T0), *a, file=sys.stderr, flush=True)


T0 = time.time()


def readme(folder, title, body):
    with open(os.path.join(folder, "README.md"), "w", encoding="utf-8") as f:
        f.write("# %s (random weights)\n\n**%s**\n\n%s\n" % (title, NOTE, body))


def titles(n=64):
    with open(TITLES, encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f if line.strip()][:n]


def cos_min(a, b):
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return float((a * b).sum(1).min())


def st_common(folder, dim, pooling, max_seq, do_lower, prompts):
    gf.write_json(os.path.join(folder, "modules.json"), [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ])
    gf.write_json(os.path.join(folder, "1_Pooling", "config.json"), {
        "word_embedding_dimension": dim, "pooling_mode_cls_token": pooling == "cls",
        "pooling_mode_mean_tokens": False, "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False, "pooling_mode_weightedmean_tokens": False,
        "pooling_mode_lasttoken": pooling == "lasttoken", "include_prompt": True,
    })
    gf.write_json(os.path.join(folder, "sentence_bert_config.json"),
                  {"max_seq_length": max_seq, "do_lower_case": do_lower})
    gf.write_json(os.path.join(folder, "config_sentence_transformers.json"), {
        "__version__": gf.st_version_block(), "prompts": prompts, "default_prompt_name": None,
        "similarity_fn_name": "cosine",
    })


def load_st(folder):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(folder, device="cpu", model_kwargs={"dtype": torch.float32})


# --------------------------------------------------------------------------------------------
# bge-small-en-v1.5


BGE_CFG = {
    "architectures": ["BertModel"], "attention_probs_dropout_prob": 0.1, "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1, "hidden_size": 384, "initializer_range": 0.02, "intermediate_size": 1536,
    "layer_norm_eps": 1e-12, "max_position_embeddings": 512, "model_type": "bert", "num_attention_heads": 12,
    "num_hidden_layers": 12, "pad_token_id": 0, "position_embedding_type": "absolute", "type_vocab_size": 2,
    "use_cache": True, "vocab_size": 30522,
}


def make_bge(skip_onnx):
    from safetensors.torch import save_file
    from transformers import BertConfig, BertModel

    folder = os.path.join(OUT, "bge-small-en-v1.5-random")
    if os.path.isdir(folder):
        shutil.rmtree(folder)
    os.makedirs(folder)
    cfg_dict = dict(BGE_CFG, _titlesim_note=NOTE)
    gf.write_json(os.path.join(folder, "config.json"), cfg_dict)
    cfg = BertConfig(**{k: v for k, v in BGE_CFG.items() if k != "architectures"})
    model = gf.spread_init(BertModel(cfg).eval(), 7001)
    sd = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    sd["embeddings.position_ids"] = torch.arange(512, dtype=torch.int64).unsqueeze(0)
    save_file(sd, os.path.join(folder, "model.safetensors"), metadata={"format": "pt"})
    for f in ["tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json"]:
        shutil.copy(os.path.join(MINILM, f), os.path.join(folder, f))
    st_common(folder, 384, "cls", 512, True, {})
    readme(folder, "bge-small-en-v1.5", "BERT, 12 layers, hidden 384, 12 heads, FFN 1536, vocab 30522, "
           "CLS pooling + Normalize, max_seq_length 512 (config of BAAI/bge-small-en-v1.5). Tokenizer files "
           "copied from all-MiniLM-L6-v2 (the same uncased BERT vocabulary). `onnx/model.onnx`: fp32 "
           "torch.onnx.export (opset 17), inputs input_ids/attention_mask/token_type_ids, output "
           "last_hidden_state.")
    log("bge: %d tensors written" % len(sd))
    if skip_onnx:
        return
    ids = torch.tensor([[101, 2000, 2001, 102], [101, 2002, 102, 0]], dtype=torch.int64)
    m = gf.export_bert(folder, ids)
    gf.save_onnx(m, os.path.join(folder, "onnx", "model.onnx"))
    log("bge: onnx written; verifying against sentence-transformers")
    st = load_st(folder)
    ts = titles(16)
    ref = st.encode(ts, batch_size=16, convert_to_numpy=True, normalize_embeddings=False)
    sess = gf.ort_session(os.path.join(folder, "onnx", "model.onnx"))
    feats = gf.bert_batch(st, ts)
    hs = sess.run(["last_hidden_state"], {k: v.numpy() for k, v in feats.items()})[0]
    c = cos_min(hs[:, 0, :], ref)
    log("bge: ORT vs sentence-transformers min cosine %.7f" % c)
    assert c > 0.9999, c


# --------------------------------------------------------------------------------------------
# Qwen3-Embedding-0.6B


QWEN_PROMPTS = {
    "query": "Instruct: Given a web search query, retrieve relevant passages that answer the query\nQuery:",
    "document": "",
}


def qwen_corpus():
    words = []
    with open(os.path.join(MINILM, "vocab.txt"), encoding="utf-8") as f:
        for line in f:
            w = line.strip()
            if w and w.isalpha() and not w.startswith("[") and not w.startswith("##"):
                words.append(w)
    out = []
    for w in words:
        for v in {w, w.capitalize(), w.upper() if len(w) <= 4 else w}:
            out += [v, " " + v]
    return out


def make_qwen_tokenizer(folder, vocab_size=60000):
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, \
        processors, trainers

    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(gf.QWEN_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=1, show_progress=False,
                                  special_tokens=[], initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(qwen_corpus(), trainer)
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in specials])
    eot = tok.token_to_id("<|endoftext|>")
    tok.post_processor = processors.TemplateProcessing(
        single="$A:0 <|endoftext|>:0", pair="$A:0 <|endoftext|>:0 $B:1 <|endoftext|>:1",
        special_tokens=[("<|endoftext|>", eot)])
    tj = json.loads(tok.to_str())
    gf.write_json(os.path.join(folder, "tokenizer.json"), tj)
    gf.write_json(os.path.join(folder, "vocab.json"), tj["model"]["vocab"])
    with open(os.path.join(folder, "merges.txt"), "w", encoding="utf-8", newline="\n") as f:
        f.write("#version: 0.2\n")
        for m in tj["model"]["merges"]:
            f.write((m if isinstance(m, str) else " ".join(m)) + "\n")
    added = {str(tok.token_to_id(s)): {"content": s, "lstrip": False, "normalized": False, "rstrip": False,
                                       "single_word": False, "special": True} for s in specials}
    gf.write_json(os.path.join(folder, "tokenizer_config.json"), {
        "add_bos_token": False, "add_prefix_space": False, "added_tokens_decoder": added,
        "additional_special_tokens": ["<|im_start|>", "<|im_end|>"], "bos_token": None,
        "clean_up_tokenization_spaces": False, "eos_token": "<|im_end|>", "errors": "replace",
        "model_max_length": 131072, "pad_token": "<|endoftext|>", "padding_side": "left",
        "split_special_tokens": False, "tokenizer_class": "Qwen2Tokenizer", "unk_token": None,
    })
    gf.write_json(os.path.join(folder, "special_tokens_map.json"), {
        "additional_special_tokens": ["<|im_start|>", "<|im_end|>"],
        "eos_token": {"content": "<|im_end|>", "lstrip": False, "normalized": False, "rstrip": False,
                      "single_word": False},
        "pad_token": {"content": "<|endoftext|>", "lstrip": False, "normalized": False, "rstrip": False,
                      "single_word": False},
    })
    return tok, eot


def token_counts(folder):
    from tokenizers import Tokenizer

    ts = titles(100000)
    q = Tokenizer.from_file(os.path.join(folder, "tokenizer.json"))
    w = Tokenizer.from_file(os.path.join(MINILM, "tokenizer.json"))
    w.no_padding()
    w.no_truncation()
    nq = np.mean([len(e.ids) for e in q.encode_batch(ts)])
    nw = np.mean([len(e.ids) for e in w.encode_batch(ts)])
    return float(nq), float(nw), len(ts)


def make_qwen3(skip_onnx):
    from safetensors.torch import save_file
    from transformers import Qwen3Config, Qwen3Model

    folder = os.path.join(OUT, "Qwen3-Embedding-0.6B-random")
    if os.path.isdir(folder):
        shutil.rmtree(folder)
    os.makedirs(folder)
    tok, eot = make_qwen_tokenizer(folder)
    nq, nw, n = token_counts(folder)
    log("qwen3: tokenizer %d entries; mean tokens per bench title (%d titles): this BPE %.2f (incl. "
        "<|endoftext|>), all-MiniLM WordPiece %.2f (incl. [CLS]/[SEP])" % (tok.get_vocab_size(), n, nq, nw))
    arch = dict(vocab_size=151669, hidden_size=1024, intermediate_size=3072, num_hidden_layers=28,
                num_attention_heads=16, num_key_value_heads=8, head_dim=128, hidden_act="silu",
                max_position_embeddings=32768, rms_norm_eps=1e-6, rope_theta=1000000.0, attention_bias=False,
                attention_dropout=0.0, tie_word_embeddings=True, use_cache=True, use_sliding_window=False,
                sliding_window=None, max_window_layers=28, initializer_range=0.02)
    cfg = Qwen3Config(bos_token_id=eot, eos_token_id=eot, pad_token_id=eot, **arch)
    cfg.architectures = ["Qwen3Model"]
    with tempfile.TemporaryDirectory() as d:
        cfg.save_pretrained(d)
        with open(os.path.join(d, "config.json"), encoding="utf-8") as f:
            cfg_dict = json.load(f)
    cfg_dict.pop("transformers_version", None)
    cfg_dict["rope_theta"] = 1000000.0
    cfg_dict["torch_dtype"] = "bfloat16"
    cfg_dict["_titlesim_note"] = NOTE + (" bos/eos/pad ids point at this folder's <|endoftext|> (%d), not "
                                         "151643 as in the real model." % eot)
    gf.write_json(os.path.join(folder, "config.json"), dict(sorted(cfg_dict.items())))
    log("qwen3: initialising 0.6B random weights")
    model = gf.spread_init(Qwen3Model(cfg).eval(), 8001)
    with torch.no_grad():  # round to bf16 so that safetensors (bf16) and ONNX (fp32) hold the same values
        for p in model.parameters():
            p.copy_(p.to(torch.bfloat16).to(torch.float32))
    sd = {k: v.detach().to(torch.bfloat16).contiguous() for k, v in model.state_dict().items()
          if v.dtype.is_floating_point}
    save_file(sd, os.path.join(folder, "model.safetensors"), metadata={"format": "pt"})
    n_params = sum(v.numel() for v in sd.values())
    del sd
    st_common(folder, 1024, "lasttoken", 32768, False, QWEN_PROMPTS)
    readme(folder, "Qwen3-Embedding-0.6B", (
        "Qwen3, 28 layers, hidden 1024, 16 query / 8 KV heads, head_dim 128, FFN 3072, vocab 151669, "
        "RMSNorm eps 1e-6, RoPE theta 1e6, tied embeddings (config of Qwen/Qwen3-Embedding-0.6B), "
        "last-token pooling + Normalize, left padding; %d parameters stored bfloat16 in model.safetensors "
        "(keys without the `model.` prefix). Tokenizer: a byte-level BPE with the Qwen2 pre-tokeniser, "
        "60,000 entries trained on English words (the real 151k-entry tokenizer is not available offline): "
        "mean tokens per bench title %.2f here vs %.2f for all-MiniLM's WordPiece. bos/eos/pad ids point at "
        "this tokenizer's <|endoftext|> (%d). `onnx/model.onnx` + `onnx/model.onnx.data`: fp32 export "
        "(the bf16 weights widened) of the hand-written forward of scripts/generate_fixtures.py "
        "(inputs input_ids, attention_mask, position_ids; output last_hidden_state after the final norm)."
        % (n_params, nq, nw, eot)))
    log("qwen3: safetensors written (%d parameters)" % n_params)
    if skip_onnx:
        return
    export_qwen3_onnx(model, folder)
    verify_qwen3(folder)


def export_qwen3_onnx(hf, folder):
    import onnx

    n_layers = hf.config.num_hidden_layers
    ins, outs, dyn = gf.qwen_names(n_layers, False)
    ids = torch.tensor([[5, 6, 7, 8, 9], [0, 0, 7, 8, 9]], dtype=torch.int64)
    am = torch.ones(2, 5, dtype=torch.int64)
    am[1, :2] = 0
    pos = torch.arange(0, 5).unsqueeze(0).repeat(2, 1)
    log("qwen3: torch.onnx.export (TorchScript, opset %d)" % gf.OPSET)
    with tempfile.TemporaryDirectory(dir=OUT) as d:
        tmp = os.path.join(d, "model.onnx")
        torch.onnx.export(gf.Qwen3OnnxForward(hf, False), (ids, am, pos), tmp, dynamo=False,
                          opset_version=gf.OPSET, input_names=ins, output_names=outs, dynamic_axes=dyn,
                          do_constant_folding=False)
        m = onnx.load(tmp, load_external_data=True)
    gf.rename_initializers(m, "hf.")
    m.producer_name = "titlesim scripts/make_synthetic_models.py (torch.onnx.export, dynamo=False)"
    out_dir = os.path.join(folder, "onnx")
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "model.onnx")
    onnx.save_model(m, path, save_as_external_data=True, all_tensors_to_one_file=True,
                    location="model.onnx.data", size_threshold=1024)
    onnx.checker.check_model(path)
    log("qwen3: onnx written (%.2f GB external data)" % (os.path.getsize(path + ".data") / 1e9))


def verify_qwen3(folder):
    import onnxruntime as ort

    st = load_st(folder)
    ts = titles(6)
    ref = st.encode(ts, batch_size=1, convert_to_numpy=True, normalize_embeddings=False)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    sess = ort.InferenceSession(os.path.join(folder, "onnx", "model.onnx"), so,
                                providers=["CPUExecutionProvider"])
    tok = st.tokenizer
    out = []
    for t in ts:  # batch 1: no padding
        ids = np.array([tok(t)["input_ids"]], dtype=np.int64)
        hs = sess.run(["last_hidden_state"], {"input_ids": ids, "attention_mask": np.ones_like(ids),
                                              "position_ids": np.arange(ids.shape[1])[None, :]})[0]
        out.append(hs[0, -1])
    c = cos_min(np.stack(out), ref)
    log("qwen3: ORT vs sentence-transformers min cosine %.7f" % c)
    assert c > 0.999, c


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", choices=["bge", "qwen3"])
    ap.add_argument("--skip-onnx", action="store_true")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    if not os.path.isfile(os.path.join(MINILM, "tokenizer.json")):
        sys.exit("all-MiniLM-L6-v2 not found in %s: run `cargo xtask fetch-models` first" % MODELS)
    torch.set_num_threads(a.threads)
    os.makedirs(OUT, exist_ok=True)
    log("versions:", json.dumps(gf.versions()))
    if a.only in (None, "bge"):
        make_bge(a.skip_onnx)
    if a.only in (None, "qwen3"):
        make_qwen3(a.skip_onnx)
    log("done")


if __name__ == "__main__":
    main()
