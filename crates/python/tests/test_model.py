"""titlesim.Model: sentence-transformers' encode/similarity, against the committed references
and the CLI's `titlesim embed`."""

import gc
import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import titlesim
from conftest import FIXTURES, reference, run_cli


@pytest.mark.parametrize(
    "backend,name",
    [("candle", "tiny-bert-mean"), ("candle", "tiny-bert-cls"), ("tract", "tiny-bert-mean")],
)
def test_tiny_models_match_sentence_transformers(backend, name):
    ref = reference(name)
    model = titlesim.Model(FIXTURES / name, backend=backend, threads=1)
    got = model.encode(ref["texts"])
    want = np.array(ref["embeddings"], dtype=np.float32)
    assert got.shape == want.shape and got.dtype == np.float32
    assert np.abs(got - want).max() <= 1e-5


def test_a_folder_without_modules_json_warns_at_load(tmp_path):
    for f in ["config.json", "tokenizer.json", "tokenizer_config.json", "model.safetensors"]:
        (tmp_path / f).write_bytes((FIXTURES / "tiny-bert-mean" / f).read_bytes())
    with pytest.warns(UserWarning, match="no modules.json"):
        model = titlesim.Model(tmp_path, threads=1)
    assert any("mean pooling without normalisation" in w for w in model.warnings)
    assert not model.normalize
    assert titlesim.Model(FIXTURES / "tiny-bert-mean", threads=1).warnings == []


def test_minilm_matches_sentence_transformers(minilm):
    ref = reference("all-minilm-l6-v2")
    model = titlesim.Model(minilm, threads=2)
    got = model.encode(ref["texts"])
    want = np.array(ref["embeddings"], dtype=np.float32)
    assert np.abs(got - want).max() <= 1e-5
    # The model normalises (its modules.json): unit vectors.
    assert model.normalize
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)


def test_encode_equals_titlesim_embed_bit_for_bit(minilm, titlesim_bin, tmp_path):
    texts = reference("all-minilm-l6-v2")["texts"]
    # `titlesim embed` reads one text per line: keep the texts that are one line.
    texts = [t for t in texts if "\n" not in t and "\r" not in t]
    src = tmp_path / "texts.txt"
    src.write_text("\n".join(texts) + "\n", encoding="utf-8")
    out = run_cli(titlesim_bin, "embed", "--model", str(minilm), "--backend", "candle",
                  "--input", str(src))
    cli = np.array([json.loads(line)["embedding"] for line in out.splitlines()],
                   dtype=np.float32)
    py = titlesim.Model(minilm).encode(texts)
    assert cli.shape == py.shape
    assert np.array_equal(cli.view(np.uint32), py.view(np.uint32))


def test_vectors_do_not_depend_on_the_batch():
    model = titlesim.Model(FIXTURES / "tiny-bert-mean", threads=1)
    texts = reference("tiny-bert-mean")["texts"]
    together = model.encode(texts, batch_size=32)
    for bs in (1, 3, 7):
        alone = model.encode(texts, batch_size=bs)
        assert np.array_equal(together.view(np.uint32), alone.view(np.uint32)), bs
    single = model.encode(texts[2])
    assert single.shape == (model.dim,)
    assert np.array_equal(single, together[2])
    # sentence-transformers' keywords that change nothing here are taken, not refused.
    same = model.encode(texts, show_progress_bar=False, convert_to_numpy=True,
                        convert_to_tensor=False)
    assert np.array_equal(same, together)
    for bad in ({"convert_to_numpy": False}, {"convert_to_tensor": True}):
        with pytest.raises(ValueError, match="numpy arrays only"):
            model.encode(texts, **bad)


def test_similarity_is_the_scorers_cosine(minilm):
    model = titlesim.Model(minilm)
    a = model.encode(["Apple iPhone 15 128GB Black", "USB C Cable 2 Pack"])
    b = model.encode(["iPhone 15 (128 GB) - Black"])
    sim = model.similarity(a, b)
    assert sim.shape == (2, 1) and sim.dtype == np.float32
    scorer = titlesim.Scorer.from_model(model, 0.5)
    v = scorer.score_pair("Apple iPhone 15 128GB Black", "iPhone 15 (128 GB) - Black")
    assert sim[0, 0] == v.cosine
    assert sim[0, 0] > sim[1, 0]


def test_similarity_reads_rows_whatever_the_memory_layout():
    # A column-major array (pandas' to_numpy(), X.T) used to be read in memory order: each
    # "row" mixed numbers of several vectors and the cosines came out wrong without an error.
    model = titlesim.Model(FIXTURES / "tiny-bert-mean", threads=1)
    e = model.encode(reference("tiny-bert-mean")["texts"][:5])
    want = model.similarity(e, e)
    unit = e.astype(np.float64) / np.linalg.norm(e.astype(np.float64), axis=1, keepdims=True)
    assert np.allclose(want, unit @ unit.T, atol=1e-6)
    wide = np.zeros((e.shape[0], 2 * model.dim), dtype=np.float32)
    wide[:, ::2] = e
    for layout in (
        np.asfortranarray(e),
        np.ascontiguousarray(e.T).T,
        wide[:, ::2],
        e[::-1][::-1],
        e.astype(np.float64, order="F"),
    ):
        got = model.similarity(layout, np.asfortranarray(e))
        assert np.array_equal(got, want), layout.flags


def test_normalize_embeddings_on_a_model_that_does_not():
    model = titlesim.Model(FIXTURES / "tiny-bert-mean", threads=1)
    assert not model.normalize
    raw = model.encode(["USB C Cable 2 Pack"])
    unit = model.encode(["USB C Cable 2 Pack"], normalize_embeddings=True)
    assert abs(np.linalg.norm(raw) - 1.0) > 1e-3
    assert np.allclose(unit, raw / np.linalg.norm(raw), atol=1e-6)
    # Any truthy value, as sentence-transformers takes it.
    assert np.array_equal(model.encode(["USB C Cable 2 Pack"], normalize_embeddings=1), unit)
    assert np.array_equal(model.encode(["USB C Cable 2 Pack"], normalize_embeddings=0), raw)


def test_huge_numbers_are_refused_naming_the_argument():
    # PyO3 raised OverflowError ("Python int too large to convert to C long"), naming nothing.
    model = titlesim.Model(FIXTURES / "tiny-bert-mean", threads=1)
    with pytest.raises(titlesim.ConfigError, match="threads: 2000 is more than"):
        titlesim.Model(FIXTURES / "tiny-bert-mean", threads=2000)
    with pytest.raises(titlesim.ConfigError, match="max_length: .* is negative"):
        titlesim.Model(FIXTURES / "tiny-bert-mean", max_length=-(2**70))
    with pytest.raises(titlesim.ConfigError, match=r"threads: 18446744073709551616 is too large"):
        titlesim.Model(FIXTURES / "tiny-bert-mean", threads=2**64)
    with pytest.raises(ValueError, match="batch_size must be at least 1"):
        model.encode(["a"], batch_size=-(2**70))
    with pytest.raises(ValueError, match="batch_size: 1180591620717411303424 is too large"):
        model.encode(["a"], batch_size=2**70)
    with pytest.raises(ValueError, match="batch_size: .* is too large"):
        model.encode(["a"], batch_size=2**200)


def test_a_model_refuses_pickling_saying_what_to_do():
    import copy
    import pickle

    model = titlesim.Model(FIXTURES / "tiny-bert-mean", threads=1)
    for attempt in (pickle.dumps, copy.copy, copy.deepcopy):
        with pytest.raises(TypeError, match="make the Model there"):
            attempt(model)


def test_what_the_callers_iterable_raises_is_raised_as_it_was():
    # A generator's own error, or Ctrl-C while it reads a cursor, became a TypeError.
    model = titlesim.Model(FIXTURES / "tiny-bert-mean", threads=1)

    class Boom(Exception):
        pass

    def failing(error):
        yield "a"
        raise error

    with pytest.raises(Boom, match="cursor closed"):
        model.encode(failing(Boom("cursor closed")))
    with pytest.raises(KeyboardInterrupt):
        model.encode(failing(KeyboardInterrupt()))


def test_prompts_by_name():
    ref = reference("tiny-qwen3.query")
    model = titlesim.Model(FIXTURES / "tiny-qwen3", threads=1)
    got = model.encode(ref["texts"], prompt_name=ref["prompt_name"])
    assert np.abs(got - np.array(ref["embeddings"], dtype=np.float32)).max() <= 1e-5
    with pytest.raises(titlesim.ConfigError, match="nosuchprompt"):
        model.encode(["x"], prompt_name="nosuchprompt")


@pytest.mark.parametrize("backend", ["candle", "tract"])
def test_edge_white_space_is_stripped_as_python_strips_it(backend):
    # sentence-transformers' Transformer.tokenize runs str(s).strip() on every text, its prompt
    # prepended; a byte-level BPE tokenizer (Qwen3's) would make tokens of the space.
    model = titlesim.Model(FIXTURES / "tiny-qwen3", backend=backend, threads=1)
    texts = ["zebra apple", " zebra apple", "zebra apple\n", "\x1czebra apple\u3000",
             "\t zebra apple \r\n"]
    assert {t.strip() for t in texts} == {"zebra apple"}
    got = model.encode(texts)
    for i in range(1, len(texts)):
        assert np.array_equal(got[i].view(np.uint32), got[0].view(np.uint32)), repr(texts[i])
    # inner space and what Python does not strip (a zero-width space) still count
    other = model.encode(["zebra  apple", "\u200bzebra apple"])
    assert not np.array_equal(other[0], got[0]) and not np.array_equal(other[1], got[0])
    # the prompt is prepended first: a space between prompt and text stays, as in
    # sentence-transformers, where prompt + text is stripped as a whole
    q = model.encode(["zebra apple", " zebra apple", "zebra apple \n"], prompt_name="query")
    assert not np.array_equal(q[1], q[0])
    assert np.array_equal(q[2], q[0])


class FakeFrame:
    """What matters of a pandas DataFrame here: iterating it gives its column names."""
    columns = ["title"]
    iloc = None

    def __iter__(self):
        return iter(self.columns)

    def __len__(self):
        return 1


def test_arguments_after_texts_are_keywords_and_unordered_inputs_are_refused():
    model = titlesim.Model(FIXTURES / "tiny-bert-mean", threads=1)
    # encode(texts, 64, True) was show_progress_bar=True in sentence-transformers 2, and the
    # second argument is prompt_name since 3: a positional call is refused, not reinterpreted
    for args in ((64,), (64, True), ("query",)):
        with pytest.raises(TypeError, match="positional"):
            model.encode(["a"], *args)
    scorer = titlesim.Scorer.from_model(model, 0.5)
    for bad, why in (({"b", "a"}, "a set has no order"),
                     (frozenset({"a"}), "a set has no order"),
                     ({"a": "x"}, "iterating a mapping gives its keys"),
                     (FakeFrame(), "iterating a DataFrame gives its column names")):
        with pytest.raises(TypeError, match=why):
            model.encode(bad)
        with pytest.raises(TypeError, match=why):
            scorer.score(bad, ["x"] * len(bad))
    assert model.encode("a").shape == (model.get_sentence_embedding_dimension(),)
    assert model.encode(("a", "b")).shape == (2, model.dim)
    assert model.encode(np.array(["a", "b"])).shape == (2, model.dim)


def test_dimension_mismatch_raises():
    model = titlesim.Model(FIXTURES / "tiny-bert-mean", threads=1)
    ok = model.encode(["a"])
    with pytest.raises(ValueError, match="length 384"):
        model.similarity(ok, np.zeros((2, 384), dtype=np.float32))
    with pytest.raises(ValueError, match="NaN"):
        model.similarity(ok, np.full((1, model.dim), np.nan))


@pytest.mark.parametrize(
    "texts,error,message",
    [
        (None, TypeError, "got None"),
        (b"bytes", TypeError, "single bytes"),
        ([b"bytes"], TypeError, r"texts\[0\]: expected str, got bytes"),
        (["ok", 3], TypeError, r"texts\[1\]: expected str, got int"),
        (["nul\x00byte"], ValueError, "NUL"),
        (["\udc80"], ValueError, "surrogate"),
        (42, TypeError, "got int"),
    ],
)
def test_bad_texts_raise(texts, error, message):
    model = titlesim.Model(FIXTURES / "tiny-bert-mean", threads=1)
    with pytest.raises(error, match=message):
        model.encode(texts)


def test_an_empty_batch_gives_an_empty_matrix():
    # A validator's batch can be empty; sentence-transformers returns an empty array there.
    model = titlesim.Model(FIXTURES / "tiny-bert-mean", threads=1)
    for empty in ([], (), np.array([], dtype=str)):
        got = model.encode(empty)
        assert got.shape == (0, model.dim) and got.dtype == np.float32, (empty, got.shape)
    assert model.similarity(model.encode([]), model.encode(["a"])).shape == (0, 1)
    assert model.similarity(model.encode(["a"]), model.encode([])).shape == (1, 0)
    with pytest.raises(titlesim.ConfigError, match="unknown prompt|prompt"):
        model.encode([], prompt_name="no-such-prompt")
    with pytest.raises(TypeError, match="a set has no order"):
        model.encode(set())


def test_onnx_is_sentence_transformers_name_for_the_ort_backend():
    # sentence-transformers' backend="onnx" runs ONNX Runtime: here it is the ort backend.
    model = titlesim.Model(FIXTURES / "tiny-bert-mean", backend="onnx", threads=1)
    assert model.backend == "ort"


def test_bf16_is_close_to_f32_but_not_f32():
    texts = ["USB C Cable 2 Pack", "Stainless steel water bottle", ""]
    f32 = titlesim.Model(FIXTURES / "tiny-bert-mean", threads=1).encode(texts)
    bf16 = titlesim.Model(FIXTURES / "tiny-bert-mean", threads=1, dtype="bf16").encode(texts)
    assert bf16.shape == f32.shape and bf16.dtype == f32.dtype
    cos = (bf16 * f32).sum(axis=1) / (
        (bf16 * bf16).sum(axis=1) ** 0.5 * (f32 * f32).sum(axis=1) ** 0.5
    )
    assert cos.min() >= 0.9999, cos
    assert abs(bf16 - f32).max() > 1e-6, "bf16 gave the f32 vectors: the dtype was ignored"


def test_spin_changes_no_vector():
    texts = ["USB C Cable 2 Pack", "Stainless steel water bottle", "mug"]
    for backend in ("candle", "tract"):
        model = titlesim.Model(FIXTURES / "tiny-bert-mean", backend=backend, threads=2)
        default = model.encode(texts, batch_size=1)
        for spin in (True, False):
            m = titlesim.Model(FIXTURES / "tiny-bert-mean", backend=backend, threads=2, spin=spin)
            got = m.encode(texts, batch_size=1)
            assert (got == default).all(), (backend, spin)


def _threads_named(prefix):
    """The threads of this process whose name starts with `prefix` (Linux); a thread that
    ends while we read is skipped."""
    n = 0
    for t in Path("/proc/self/task").iterdir():
        try:
            n += (t / "comm").read_text().startswith(prefix)
        except OSError:
            pass
    return n


def _settled_count(prefix, want, timeout=10.0):
    """The count of `prefix` threads once it equals `want`, or after `timeout` seconds: a
    dropped pool's threads end, and a new pool's threads name themselves, a moment after
    the call that dropped or built it returns."""
    deadline = time.monotonic() + timeout
    while (n := _threads_named(prefix)) != want and time.monotonic() < deadline:
        time.sleep(0.01)
    return n


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux's /proc")
def test_tract_runs_on_the_threads_asked_for():
    # The wheel builds titlesim-tract with its `multithread` feature: a model on 2 threads
    # starts a pool of 2 (before 2026-12-06 the wheel ran tract on one thread, whatever
    # `threads` said, and started none).
    gc.collect()
    assert _settled_count("titlesim-tract", 0) == 0, "an earlier tract model's pool lives on"
    model = titlesim.Model(FIXTURES / "tiny-bert-mean", backend="tract", threads=2)
    assert model.encode(["mug"]).shape == (1, 32)
    assert _settled_count("titlesim-tract", 2) == 2
    time.sleep(0.2)
    assert _threads_named("titlesim-tract") == 2, "more than the 2 threads asked for"
    del model


def test_loading_errors_are_typed(tmp_path):
    with pytest.raises(titlesim.ModelError, match="not found"):
        titlesim.Model(tmp_path / "nothing-here")
    with pytest.raises(titlesim.ConfigError, match="dtype"):
        titlesim.Model(FIXTURES / "tiny-bert-mean", dtype="int9")
    with pytest.raises(titlesim.ConfigError, match="threads"):
        titlesim.Model(FIXTURES / "tiny-bert-mean", threads=0)
    # A reduced dtype on an ONNX backend is the configuration's error, found before loading.
    with pytest.raises(titlesim.ConfigError, match="int8.*candle backend only"):
        titlesim.Model(FIXTURES / "tiny-bert-mean", backend="tract", dtype="int8")
    with pytest.raises(titlesim.ConfigError, match="bf16.*candle backend only"):
        titlesim.Model(FIXTURES / "tiny-bert-mean", backend="ort", dtype="bf16")
    # Backend names as in a configuration file and on the command line.
    assert titlesim.Model(FIXTURES / "tiny-bert-mean", backend="Tract", threads=1).dim > 0
    # Negative numbers were OverflowErrors, which `except ValueError` missed.
    for key in ("threads", "batch_size", "max_length"):
        with pytest.raises(titlesim.ConfigError, match=key):
            titlesim.Model(FIXTURES / "tiny-bert-mean", **{key: -1})
    model = titlesim.Model(FIXTURES / "tiny-bert-mean", threads=1)
    with pytest.raises(ValueError, match="batch_size must be at least 1, got -1"):
        model.encode(["a"], batch_size=-1)
    # A path that is not UTF-8 (surrogate escapes, as os.fsdecode gives it) is a path like any
    # other, here one that does not exist: its JSON was a Rust panic.
    odd = os.fsdecode(os.fsencode(str(tmp_path)) + b"/m\xff.onnx")
    for key, backend in (("onnx", "tract"), ("ort_library", "ort")):
        with pytest.raises(titlesim.Error) as e:
            titlesim.Model(FIXTURES / "tiny-bert-mean", backend=backend, **{key: odd})
        assert "panic" not in str(e.value) and "internal error" not in str(e.value), e.value
    # Every titlesim exception is a titlesim.Error; config errors are also ValueErrors.
    assert issubclass(titlesim.ConfigError, ValueError)
    assert issubclass(titlesim.StoreError, titlesim.Error)


def test_a_tract_cpu_isa_tract_cannot_honour_is_refused(monkeypatch):
    # tract-linalg stops the process with a panic on a feature of another architecture and
    # ignores a name it does not know; the backend refuses both at load, naming the token.
    foreign = "+avx2" if platform.machine() in ("aarch64", "arm64") else "+neon"
    monkeypatch.setenv("TRACT_CPU_ISA", foreign)
    with pytest.raises(titlesim.BackendError, match=re.escape(f"`{foreign}` is a feature of")):
        titlesim.Model(FIXTURES / "tiny-bert-mean", backend="tract")
    monkeypatch.setenv("TRACT_CPU_ISA", "-avx512_vnni")
    with pytest.raises(titlesim.BackendError, match="names no instruction set tract knows"):
        titlesim.Model(FIXTURES / "tiny-bert-mean", backend="tract")


THREADS = """
import os, sys, titlesim
model = titlesim.Model(sys.argv[1], backend=sys.argv[2], threads=int(sys.argv[3]))
model.encode(["USB C Cable 2 Pack", "Apple iPhone 15 128GB Black"] * 20)
print(len(os.listdir("/proc/self/task")))
"""


@pytest.mark.parametrize("backend", ["candle", "ort"])
def test_the_thread_budget_sizes_the_compute_pool(backend):
    # Threads of a fresh process after loading and encoding with `threads` = 1 and 3: the same
    # fixed threads (tokenizer, runtime) plus the compute pool, whose size follows the budget.
    counts = []
    for threads in (1, 3):
        r = subprocess.run([sys.executable, "-c", THREADS, str(FIXTURES / "tiny-bert-mean"),
                            backend, str(threads)], capture_output=True, text=True, check=True)
        counts.append(int(r.stdout))
    assert counts[1] - counts[0] == 2, counts


INTERRUPTED = """
import os, signal, sys, threading, titlesim
# Python leaves SIGINT ignored when it starts ignored (a CI job run in the background).
signal.signal(signal.SIGINT, signal.default_int_handler)
model = titlesim.Model(sys.argv[1])
texts = [f"title {i} " + "usb cable charger pack black " * 40 for i in range(600)]
threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT)).start()
try:
    model.encode(texts)
    print("finished")
except KeyboardInterrupt:
    print("KeyboardInterrupt")
"""


STOPPED_BETWEEN_CHUNKS = """
import os, signal, sys, threading, time, titlesim
signal.signal(signal.SIGINT, signal.default_int_handler)
model = titlesim.Model(sys.argv[1])
texts = [f"title {i} " + "usb cable charger pack black " * 8 for i in range(5120)]
t = time.perf_counter()
model.encode(texts)
full = time.perf_counter() - t
sent = []
def interrupt():
    sent.append(time.perf_counter())
    os.kill(os.getpid(), signal.SIGINT)
threading.Timer(full * 0.1, interrupt).start()
try:
    model.encode(texts)
    print("finished")
except KeyboardInterrupt:
    print(f"KeyboardInterrupt {(time.perf_counter() - sent[0]) / full:.3f}")
"""


def test_ctrl_c_stops_a_long_encode_between_chunks():
    # Ctrl-C took effect only when the whole call returned (50 s for 6,000 titles); now the
    # call stops after the chunk it is in (a twentieth of this call). Times are compared as a
    # ratio to the same call run whole, in the same process.
    r = subprocess.run([sys.executable, "-c", STOPPED_BETWEEN_CHUNKS,
                        str(FIXTURES / "tiny-bert-mean")],
                       capture_output=True, text=True, check=False)
    word, _, ratio = r.stdout.strip().partition(" ")
    assert word == "KeyboardInterrupt", (r.stdout, r.stderr)
    assert float(ratio) < 0.5, f"stopped {ratio} of a whole call after the signal"


def test_ctrl_c_during_the_first_call_is_a_keyboard_interrupt():
    # A fresh process whose first array comes back after the interrupt: numpy's API was once
    # looked up there, and the pending KeyboardInterrupt turned into a Rust panic.
    r = subprocess.run([sys.executable, "-c", INTERRUPTED, str(FIXTURES / "tiny-bert-mean")],
                       capture_output=True, text=True, check=False)
    assert "PanicException" not in r.stderr and "panicked" not in r.stderr, r.stderr
    assert r.stdout.strip() == "KeyboardInterrupt", (r.stdout, r.stderr)
