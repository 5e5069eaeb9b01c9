"""titlesim.Scorer and the protocol functions: the validator's paths (GT skip, plain encode,
shadow logging, a store of another model), threads, bad input, and the CLI's documents."""

import csv
import json
import os
import threading
import warnings

import numpy as np
import pytest

import titlesim
from conftest import FIXTURES, GTS, PRODUCTS, run_cli, table, write_config

MEAN = FIXTURES / "tiny-bert-mean"
CLS = FIXTURES / "tiny-bert-cls"


def read_log(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_plain_encode_path_gives_the_models_cosines():
    model = titlesim.Model(MEAN, threads=1)
    scorer = titlesim.Scorer.from_model(model, 0.9)
    scores = scorer.score(PRODUCTS, GTS)
    p, g = model.encode(PRODUCTS), model.encode(GTS)
    want = np.array([model.similarity(p[i], g[i])[0, 0] for i in range(len(PRODUCTS))])
    assert scores.cosine.dtype == np.float32 and scores.passed.dtype == np.bool_
    assert np.array_equal(scores.cosine, want)
    assert np.array_equal(scores.passed, scores.cosine >= np.float32(0.9))
    assert scores.threshold == np.float32(0.9) and len(scores) == len(PRODUCTS)
    assert not scores.gt_from_store.any()
    assert scorer.counts == {"pairs": 8, "passed": int(scores.passed.sum()),
                             "gt_from_store": 0, "gt_encoded": 8}
    v = scorer.score_pair(PRODUCTS[0], GTS[0])
    assert v.cosine == scores.cosine[0] and bool(v) == v.passed == scores.passed[0]
    # a pair with a blank title is not encoded (cosine 0): its GT was counted as encoded
    blank = scorer.score(["", "  ", PRODUCTS[0]], ["abc", GTS[1], "   "])
    assert list(blank.cosine) == [0.0, 0.0, 0.0]
    assert scorer.counts["gt_encoded"] == 9


def test_gt_skip_path_leaves_stored_titles_unencoded(tmp_path):
    store = tmp_path / "gt.tsgt"
    cfg = write_config(tmp_path / "t.toml", table(MEAN, 0.9, f"gt_store = {json.dumps(str(store))}"))
    report = titlesim.precompute(cfg, GTS[:4] + ["   "])
    assert report["added"] == 4 and report["existing"] == 0 and report["skipped_blank"] == 1
    # All of them: only the one title not stored yet is encoded; again, none.
    # chunk_size (titles written at a time) and batch_size (texts per backend call) leave
    # the store's vectors as they are.
    assert titlesim.precompute(cfg, GTS, chunk_size=1, batch_size=2)["added"] == 1
    assert titlesim.precompute(cfg, GTS)["existing"] == len(set(GTS))
    # a set of titles is fine here (a store is keyed by title), unlike in encode or score
    assert titlesim.precompute(cfg, set(GTS))["existing"] == len(set(GTS))
    odd = os.fsdecode(os.fsencode(str(tmp_path)) + b"/s\xff.tsgt")
    assert titlesim.precompute(cfg, GTS[:2], out=odd)["path"] == odd
    for key in ("chunk_size", "batch_size"):
        with pytest.raises(ValueError, match=f"{key} must be at least 1, got -1"):
            titlesim.precompute(cfg, GTS, **{key: -1})
    with titlesim.Scorer.from_config(cfg) as scorer:
        scores = scorer.score(PRODUCTS, GTS)
        assert scores.gt_from_store.all()
        assert scorer.counts["gt_from_store"] == 8 and scorer.counts["gt_encoded"] == 0
    # The verdicts are those of encoding both titles.
    plain = titlesim.Scorer.from_model(titlesim.Model(MEAN, threads=1), 0.9).score(PRODUCTS, GTS)
    assert np.array_equal(plain.cosine, scores.cosine)
    # A title the store lacks is encoded.
    with titlesim.Scorer.from_config(cfg) as scorer:
        v = scorer.score_pair("USB C Cable 2 Pack", "USB C Cable, 2 pack")
        assert not v.gt_from_store and scorer.counts["gt_encoded"] == 1


def test_a_store_of_another_model_raises(tmp_path):
    store = tmp_path / "gt.tsgt"
    other = write_config(tmp_path / "cls.toml", table(CLS, 0.9, f"gt_store = {json.dumps(str(store))}"))
    titlesim.precompute(other, GTS)
    cfg = write_config(tmp_path / "mean.toml", table(MEAN, 0.9, f"gt_store = {json.dumps(str(store))}"))
    with pytest.raises(titlesim.StoreError, match="another model"):
        titlesim.Scorer.from_config(cfg)
    with pytest.raises(titlesim.StoreError, match="another model"):
        titlesim.precompute(cfg, GTS)
    missing = write_config(tmp_path / "m.toml", table(MEAN, 0.9, 'gt_store = "nope.tsgt"'))
    with pytest.raises(titlesim.StoreError, match="does not exist"):
        titlesim.Scorer.from_config(missing)


def test_precompute_never_mixes_two_backends_in_one_store(tmp_path):
    store = tmp_path / "gt.tsgt"
    cfg = write_config(tmp_path / "t.toml", table(MEAN, 0.9, f"gt_store = {json.dumps(str(store))}"))
    titlesim.precompute(cfg, GTS[:4])
    # The store's header now says tract made it (the model runs on candle).
    text = store.read_text()
    tract = text.replace('"backend":"candle"', '"backend":"tract"', 1)
    assert tract != text
    store.write_text(tract)
    with pytest.warns(UserWarning, match="vectors of the tract backend"):
        report = titlesim.precompute(cfg, GTS[:4])
    assert report["added"] == 0 and "left as it is" in report["note"]
    with pytest.raises(titlesim.StoreError, match="would mix two backends"):
        titlesim.precompute(cfg, GTS)
    assert store.read_text() == tract


def test_shadow_logging_leaves_canonical_results_unchanged(tmp_path):
    log = tmp_path / "shadow.jsonl"
    cfg = write_config(tmp_path / "s.toml", table(MEAN, 0.9), table(CLS, 0.8),
                       f"log = {json.dumps(str(log))}")
    ids = [f"p{i}" for i in range(len(PRODUCTS))]
    phases = ["race" if i % 2 else "qualifying" for i in range(len(PRODUCTS))]
    labels = [1, 1, 1, 1, 1, 1, 0, 0]
    with titlesim.Scorer.from_config(cfg) as scorer:
        assert scorer.shadow_model == str(CLS)
        shadowed = scorer.score(PRODUCTS, GTS, ids=ids, phases=phases, labels=labels)
        one = scorer.score_pair(PRODUCTS[0], GTS[0], id="single", phase="race", label=True)
    report = scorer.close()  # closing again is harmless
    assert report is None
    alone = titlesim.Scorer.from_model(titlesim.Model(MEAN, threads=1), 0.9).score(PRODUCTS, GTS)
    assert np.array_equal(shadowed.cosine, alone.cosine)
    assert np.array_equal(shadowed.passed, alone.passed)
    records = read_log(log)
    assert [r["pair_id"] for r in records] == ids + ["single"]
    assert [r["phase"] for r in records[:8]] == phases
    assert [r["label"] for r in records[:8]] == labels and records[8]["label"] == 1
    for r, c in zip(records, list(shadowed.cosine) + [one.cosine]):
        assert np.float32(r["canonical"]["cosine"]) == c
        assert r["shadow"]["model"] == str(CLS) and "cosine" in r["shadow"]
    # The shadow's cosines are the candidate model's.
    cand = titlesim.Scorer.from_model(titlesim.Model(CLS, threads=1), 0.8).score(PRODUCTS, GTS)
    assert [np.float32(r["shadow"]["cosine"]) for r in records[:8]] == list(cand.cosine)


def test_a_log_written_by_other_models_is_refused(tmp_path):
    # A promotion that kept the log's path: the swapped configuration would append the new
    # models' records to the old ones, and the burn-in would refuse the whole log.
    log = tmp_path / "shadow.jsonl"
    opts = f"log = {json.dumps(str(log))}"
    before = write_config(tmp_path / "a.toml", table(MEAN, 0.9), table(CLS, 0.8), opts)
    with titlesim.Scorer.from_config(before) as scorer:
        scorer.score(PRODUCTS, GTS)
    written = log.read_text()
    after = write_config(tmp_path / "b.toml", table(CLS, 0.8), table(MEAN, 0.9), opts)
    with pytest.raises(titlesim.InputError, match="one log never mixes two models"):
        titlesim.Scorer.from_config(after)
    assert log.read_text() == written
    with titlesim.Scorer.from_config(before) as scorer:  # the models that wrote it go on
        scorer.score(PRODUCTS[:1], GTS[:1])
    assert len(read_log(log)) == len(PRODUCTS) + 1


def test_close_reports_what_the_log_got(tmp_path):
    log = tmp_path / "shadow.jsonl"
    cfg = write_config(tmp_path / "s.toml", table(MEAN, 0.9), table(CLS, 0.8),
                       f"log = {json.dumps(str(log))}")
    scorer = titlesim.Scorer.from_config(cfg)
    scorer.score(PRODUCTS, GTS)
    report = scorer.close()
    assert report["tally"]["total"]["pairs"] == 8
    assert report["sinks"][0]["records_written"] == 8
    with pytest.raises(ValueError, match="closed"):
        scorer.score(PRODUCTS, GTS)


def test_a_failing_shadow_raises_nothing(tmp_path):
    log = tmp_path / "shadow.jsonl"
    cfg = write_config(tmp_path / "s.toml", table(MEAN, 0.9), table(tmp_path / "no-model", 0.8),
                       f"log = {json.dumps(str(log))}")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scorer = titlesim.Scorer.from_config(cfg)
    assert any("failed to load" in str(w.message) for w in caught)
    assert scorer.shadow_model is None and "failed to load" in scorer.warnings[0]
    with scorer:
        scores = scorer.score(PRODUCTS, GTS)
    alone = titlesim.Scorer.from_model(titlesim.Model(MEAN, threads=1), 0.9).score(PRODUCTS, GTS)
    assert np.array_equal(scores.cosine, alone.cosine)
    records = read_log(log)
    assert len(records) == 8 and all(r.get("shadow") is None for r in records)


def test_a_disabled_shadow_logs_the_canonical_side_only(tmp_path):
    log = tmp_path / "shadow.jsonl"
    cfg = write_config(tmp_path / "s.toml", table(MEAN, 0.9), table(CLS, 0.8),
                       f"enabled = false\nlog = {json.dumps(str(log))}")
    with titlesim.Scorer.from_config(cfg) as scorer:
        assert scorer.shadow_model is None and scorer.warnings == []
        scores = scorer.score(PRODUCTS, GTS)
    records = read_log(log)
    assert [np.float32(r["canonical"]["cosine"]) for r in records] == list(scores.cosine)
    assert all(r.get("shadow") is None for r in records)


def test_a_log_held_by_another_scorer_is_refused(tmp_path):
    log = tmp_path / "shadow.jsonl"
    cfg = write_config(tmp_path / "s.toml", table(MEAN, 0.9), table(CLS, 0.8),
                       f"log = {json.dumps(str(log))}")
    with titlesim.Scorer.from_config(cfg):
        with pytest.raises(titlesim.FileError, match="another titlesim process") as e:
            titlesim.Scorer.from_config(cfg)
        assert isinstance(e.value, OSError)


def test_four_threads_give_the_results_of_one():
    scorer = titlesim.Scorer.from_model(titlesim.Model(MEAN, threads=2), 0.9)
    products = PRODUCTS * 8
    gts = GTS[::-1] * 8
    want = scorer.score(products, gts).cosine
    results = [None] * 4
    errors = []

    def work(k):
        try:
            for _ in range(5):
                got = scorer.score(products, gts).cosine
                assert np.array_equal(got, want)
            results[k] = got
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert all(np.array_equal(r, want) for r in results)
    assert scorer.counts["pairs"] == len(products) * 21


@pytest.mark.parametrize(
    "products,gts,kwargs,error,message",
    [
        (None, GTS, {}, TypeError, "products: expected a list of str, got None"),
        (PRODUCTS, b"x", {}, TypeError, "gts: .*single bytes"),
        (["a", None], ["b", "c"], {}, TypeError, r"products\[1\]: expected str, got NoneType"),
        ([], [], {}, ValueError, "products is empty"),
        (["a", "b"], ["c"], {}, ValueError, "products has 2 titles but gts has 1"),
        (["a"], ["b"], {"ids": ["x", "y"]}, ValueError, "ids has 2 items for 1 pairs"),
        (["a"], ["b"], {"labels": [2]}, ValueError, "a label is 0, 1 or None"),
        # a float label was a TypeError; 0.9 must not be cut to 0
        (["a"], ["b"], {"labels": [0.9]}, ValueError, r"labels\[0\]: a label is 0, 1 or None, got 0.9"),
        (["a"], ["b"], {"labels": ["yes"]}, TypeError, "a label is 0, 1 or None"),
        # a numpy array is a wrong type, though it has __index__
        (["a"], ["b"], {"labels": [np.array([1, 2])]}, TypeError, r"labels\[0\]: a label is 0, 1 or None, got ndarray"),
        # an int past 64 bits is a wrong value, not a wrong type
        (["a"], ["b"], {"labels": [2**64]}, ValueError, r"labels\[0\]: a label is 0, 1 or None, got 18446744073709551616"),
        (["a"], ["b"], {"phases": [3]}, TypeError, r"phases\[0\]: expected str"),
        # a repeated id: the second pair would be lost from calibrate, review and burn-in
        (["a", "b", "c"], ["d", "e", "f"], {"ids": ["1", "2", " 1"]}, ValueError,
         r"ids\[2\] \"1\" repeats ids\[0\]"),
        (["a"], ["b"], {"ids": ["  "]}, ValueError, r"ids\[0\]: the id is empty"),
        # the rules every input path applies: no control characters in phases (they reached
        # terminals and CloudWatch), no title over 64 KiB (its log record was unreadable)
        (["a"], ["b"], {"phases": ["ra\x1b[2Jce"]}, ValueError,
         r"phases\[0\]: the value holds the control character U\+001B at character 3"),
        (["a"], ["b"], {"phases": ["(pooled)"]}, ValueError,
         r"phases\[0\]: the value `\(pooled\)` is a name calibration gives its own rows"),
        (["a", "\x01" * 65537], ["b", "c"], {}, ValueError,
         r"products\[1\]: the value is 65537 bytes long, more than the 65536 a title may hold"),
    ],
)
def test_bad_input_raises(products, gts, kwargs, error, message):
    scorer = titlesim.Scorer.from_model(titlesim.Model(MEAN, threads=1), 0.9)
    with pytest.raises(error, match=message):
        scorer.score(products, gts, **kwargs)
    assert scorer.counts["pairs"] == 0


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), 1.5, "x", True])
def test_bad_thresholds_raise(bad):
    model = titlesim.Model(MEAN, threads=1)
    with pytest.raises((TypeError, ValueError), match="threshold"):
        titlesim.Scorer.from_model(model, bad)


def test_float_labels_equal_to_0_or_1_are_labels():
    scorer = titlesim.Scorer.from_model(titlesim.Model(MEAN, threads=1), 0.9)
    as_ints = scorer.score(["a", "b"], ["c", "d"], labels=[1, 0])
    as_floats = scorer.score(["a", "b"], ["c", "d"], labels=[1.0, np.float64(0.0)])
    assert np.array_equal(as_ints.cosine, as_floats.cosine)


def test_verdicts_pickle_so_a_worker_process_can_return_them():
    import copy
    import pickle

    scorer = titlesim.Scorer.from_model(titlesim.Model(MEAN, threads=1), 0.9)
    scores = scorer.score(PRODUCTS, GTS, ids=[f"p{i}" for i in range(len(PRODUCTS))])
    for back in (pickle.loads(pickle.dumps(scores)), copy.copy(scores)):
        assert type(back) is titlesim.Scores and back.ids == scores.ids
        assert back.threshold == scores.threshold and len(back) == len(scores)
        for field in ("cosine", "passed", "gt_from_store"):
            assert np.array_equal(getattr(back, field), getattr(scores, field)), field
            assert getattr(back, field).dtype == getattr(scores, field).dtype, field
    v = scorer.score_pair(PRODUCTS[0], GTS[0])
    back = pickle.loads(pickle.dumps(v))
    assert type(back) is titlesim.Verdict and repr(back) == repr(v)
    assert (back.cosine, back.passed, back.threshold, back.gt_from_store) == \
        (v.cosine, v.passed, v.threshold, v.gt_from_store)
    # The arrays are the verdicts' record: read-only, here and after a round trip.
    for arrays in (scores, pickle.loads(pickle.dumps(scores))):
        with pytest.raises(ValueError, match="read-only"):
            arrays.cosine[0] = -5.0
        with pytest.raises(ValueError, match="read-only"):
            arrays.passed[0] = True
    # The scorer itself does not pickle, and says what to do instead.
    for attempt in (pickle.dumps, copy.copy):
        with pytest.raises(TypeError, match="Scorer.from_config"):
            attempt(scorer)


def test_numpy_label_scalars_are_labels(tmp_path):
    # A pandas bool or float32 label column's to_numpy() holds np.bool_ / np.float32: they
    # were refused as "got bool" / "got float32" while True and 1.0 were taken.
    log = tmp_path / "shadow.jsonl"
    cfg = write_config(tmp_path / "s.toml", table(MEAN, 0.9), table(CLS, 0.8),
                       f"log = {json.dumps(str(log))}")
    given = [np.array([True, False]), [np.bool_(True), np.bool_(False)],
             np.array([1.0, 0.0], dtype=np.float32), [np.float16(1.0), np.float32(0.0)],
             np.array([1, 0], dtype=np.int8)]
    with titlesim.Scorer.from_config(cfg) as scorer:
        for i, labels in enumerate(given):
            scorer.score(["a", "b"], ["c", "d"], ids=[f"{i}a", f"{i}b"], labels=labels)
        with pytest.raises(ValueError, match=r"labels\[0\]: a label is 0, 1 or None, got 9223372036854775808"):
            scorer.score(["a"], ["c"], labels=[np.uint64(2**63)])
        with pytest.raises(ValueError, match=r"labels\[0\]: a label is 0, 1 or None, got 0.5"):
            scorer.score(["a"], ["c"], labels=[np.float32(0.5)])
    assert [r["label"] for r in read_log(log)] == [1, 0] * len(given)


def test_from_config_threads_has_the_files_bound(tmp_path):
    cfg = write_config(tmp_path / "t.toml", table(MEAN, 0.9))
    with pytest.raises(titlesim.ConfigError, match="threads: 2000 is more than 1024"):
        titlesim.Scorer.from_config(cfg, threads=2000)
    with pytest.raises(titlesim.ConfigError, match="threads: at least 1, got -1"):
        titlesim.Scorer.from_config(cfg, threads=-1)


def test_config_errors_name_the_key(tmp_path):
    cfg = write_config(tmp_path / "bad.toml", table(MEAN, 0.9, "colour = 3"))
    with pytest.raises(titlesim.ConfigError, match="colour"):
        titlesim.Scorer.from_config(cfg)
    with pytest.raises(titlesim.FileError, match="nope.toml"):
        titlesim.Scorer.from_config(tmp_path / "nope.toml")
    no_log = write_config(tmp_path / "nolog.toml", table(MEAN, 0.9), table(CLS, 0.8))
    with pytest.raises(titlesim.ConfigError, match="log"):
        titlesim.Scorer.from_config(no_log)

    # Found only when the model loads: the message names the file and the table, as the CLI's.
    late = write_config(tmp_path / "late.toml", table(MEAN, 0.9, "max_length = 100000"))
    for model in (None, "canonical"):
        with pytest.raises(titlesim.ModelError) as e:
            titlesim.Scorer.from_config(late, model=model)
        assert str(e.value).startswith(f"config {late}: loading the [canonical] model "), e.value
        assert "max_length" in str(e.value)


def shadow_log(tmp_path, titlesim_bin):
    """A shadow log written by the CLI over the validator-like pairs, repeated."""
    pairs = tmp_path / "pairs.csv"
    rows = ["id,phase,product,gt"]
    for k in range(6):
        for i, (p, g) in enumerate(zip(PRODUCTS, GTS)):
            phase = "race" if (i + k) % 3 else "qualifying"
            rows.append(f'{k}-{i},{phase},"{p}","{g[::-1] if (i + k) % 4 == 0 else g}"')
    pairs.write_text("\n".join(rows) + "\n")
    log = tmp_path / "shadow.jsonl"
    cfg = write_config(tmp_path / "s.toml", table(MEAN, 0.9), table(CLS, 0.8))
    run_cli(titlesim_bin, "shadow", "-c", str(cfg), "-p", str(pairs), "--log", str(log),
            "--out", str(tmp_path / "verdicts.csv"))
    return log


def test_calibrate_returns_the_clis_document(tmp_path, titlesim_bin):
    log = shadow_log(tmp_path, titlesim_bin)
    cli = json.loads(run_cli(titlesim_bin, "calibrate", str(log), "--json",
                             "--grid", "0.30:0.99:0.01", "--floor", "0.5"))
    py = titlesim.calibrate(log, grid="0.30:0.99:0.01", floor=0.5)
    assert py == cli
    given = titlesim.calibrate([log], canon_threshold=0.9, grid="0.30:0.99:0.01", floor=0.5)
    assert given["canonical_threshold"]["source"] == "given"
    assert given["compromise"] == py["compromise"] and given["phases"] == py["phases"]
    with pytest.raises(ValueError, match="canon_threshold"):
        titlesim.calibrate(log, canon_threshold=float("nan"))
    with pytest.raises(ValueError, match="grid"):
        titlesim.calibrate(log, grid="0.5-0.9")
    with pytest.raises(ValueError, match="floor"):
        titlesim.calibrate(log, floor=78)
    with pytest.raises(ValueError, match="logs is empty"):
        titlesim.calibrate([])
    with pytest.raises(titlesim.FileError, match="missing.jsonl"):
        titlesim.calibrate(tmp_path / "missing.jsonl")


def test_review_export_and_tally_match_the_cli(tmp_path, titlesim_bin):
    log = shadow_log(tmp_path, titlesim_bin)
    py_csv, cli_csv = tmp_path / "py.csv", tmp_path / "cli.csv"
    doc = titlesim.review_export(log, 0.8, py_csv)
    run_cli(titlesim_bin, "review", "export", "--log", str(log), "--shadow-threshold", "0.8",
            "--out", str(cli_csv))
    assert py_csv.read_text() == cli_csv.read_text()
    assert doc["exported"] == len(py_csv.read_text().splitlines()) - 1 > 0
    with pytest.raises(titlesim.FileError, match="exists"):
        titlesim.review_export(log, 0.8, py_csv)
    with pytest.raises(ValueError, match="seed must be at least 0, got -1"):
        titlesim.review_export(log, 0.8, tmp_path / "neg.csv", seed=-1)
    # A sample of none is refused before any log is read, in the argument's own name.
    for n in (0, -1):
        with pytest.raises(ValueError, match=f"^sample must be at least 1, got {n}$"):
            titlesim.review_export(log, 0.8, tmp_path / "neg.csv", sample=n)
    # A path that is not UTF-8 (given with surrogate escapes, as os.fsdecode gives it) is
    # written and handed back as given; its JSON made a Rust panic after the file was written.
    odd = os.fsdecode(os.fsencode(str(tmp_path)) + b"/r\xff.csv")
    assert titlesim.review_export(log, 0.8, odd)["out"] == odd
    assert os.path.exists(os.fsencode(odd))
    # Any 64-bit seed, as the CLI takes it (one from 2**63 up was an OverflowError).
    big, py_big, cli_big = 2**64 - 1, tmp_path / "py-big.csv", tmp_path / "cli-big.csv"
    titlesim.review_export(log, 0.8, py_big, sample=2, seed=big)
    run_cli(titlesim_bin, "review", "export", "--log", str(log), "--shadow-threshold", "0.8",
            "--sample", "2", "--seed", str(big), "--out", str(cli_big))
    assert py_big.read_text() == cli_big.read_text()
    with pytest.raises(ValueError, match="seed: 18446744073709551616 is too large"):
        titlesim.review_export(log, 0.8, tmp_path / "huge.csv", sample=2, seed=2**64)
    # Fill the verdicts: the canonical model was right on every other row. Python's csv module
    # writes \r\n line ends, as a spreadsheet would: errors must still name the right line.
    with py_csv.open(newline="") as f:
        rows = list(csv.reader(f))
    col = rows[0].index("verdict")
    for i, row in enumerate(rows[1:]):
        row[col] = "canonical" if i % 2 else "shadow"
    with py_csv.open("w", newline="") as f:
        csv.writer(f).writerows(rows)
    tally = titlesim.review_tally(py_csv)
    assert tally == json.loads(run_cli(titlesim_bin, "review", "tally", str(py_csv), "--json"))
    rows[1][col] = "maybe"
    bad = tmp_path / "bad.csv"
    with bad.open("w", newline="") as f:
        csv.writer(f).writerows(rows)
    with pytest.raises(titlesim.InputError, match="bad.csv:2"):
        titlesim.review_tally(bad)


# A child process whose files may not grow past 20,000 bytes (SIGXFSZ ignored: a write past
# it fails with EFBIG, as on a full disk), so the shadow log fails a few batches in.
LOSING_LOG_CHILD = r"""
import json, resource, signal, sys, time, warnings
import titlesim

cfg, mode = sys.argv[1], sys.argv[2]
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
scorer = titlesim.Scorer.from_config(cfg)
resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))
out = {"raised": None, "warned_at": None}
products = [f"Acme phone {i} black" for i in range(20)]
gts = [f"Acme phone {i}, 128 GB" for i in range(20)]


def score_until_warned():
    # The log is written in the background: the warning comes with a call after the failure.
    for k in range(100):
        scorer.score(products, gts)
        if any("losing records" in str(w.message) for w in caught):
            out["warned_at"] = k
            return
        time.sleep(0.05)


with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    try:
        if mode == "close":
            score_until_warned()
            scorer.close()
        elif mode == "with":
            with scorer:
                score_until_warned()
        else:
            with scorer:
                score_until_warned()
                raise KeyError("the block's own error")
    except Exception as e:
        out.update(raised=type(e).__name__, message=str(e), report=getattr(e, "report", None),
                   file_error=isinstance(e, titlesim.FileError))
out["warnings"] = [str(w.message) for w in caught]
out["pairs"] = scorer.counts["pairs"]
print(json.dumps(out))
"""


@pytest.mark.parametrize("mode", ["close", "with", "with-error"])
def test_records_the_log_cannot_write_are_never_lost_silently(tmp_path, mode):
    # A shadow log that failed to write lost its records without a word: close() returned
    # the counts in a dict nobody reads, and a `with` block dropped it.
    import subprocess
    import sys

    log = tmp_path / "shadow.jsonl"
    cfg = write_config(tmp_path / "s.toml", table(MEAN, 0.9), table(CLS, 0.8),
                       f"log = {json.dumps(str(log))}")
    r = subprocess.run([sys.executable, "-c", LOSING_LOG_CHILD, str(cfg), mode],
                       capture_output=True, text=True, timeout=300, check=False)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    # the first failed write: a warning naming the log, at a later call; the verdicts stand
    assert out["warned_at"] is not None, out
    first = [w for w in out["warnings"] if "losing records" in w]
    assert len(first) == 1, out["warnings"]
    assert f"{log}: " in first[0] and "records not written (" in first[0], first[0]
    assert out["pairs"] == 20 * (out["warned_at"] + 1)
    if mode == "with-error":
        # the block's own exception goes on; the loss is a warning
        assert out["raised"] == "KeyError", out
        closed = [w for w in out["warnings"] if "the shadow log is not" in w]
        assert len(closed) == 1 and f"{log}: " in closed[0], out["warnings"]
        return
    # close(), or the end of the with block: titlesim.FileError with the total and the report
    assert out["raised"] == "FileError" and out["file_error"], out
    msg = out["message"]
    assert msg.startswith("the verdicts returned are complete, but the shadow log is not: "), msg
    sink = out["report"]["sinks"][0]
    assert sink["records_failed"] > 0 and sink["name"] == str(log), out["report"]
    assert f"{log}: {sink['records_failed']} records not written (" in msg, msg
    written = len(log.read_text().splitlines())
    assert sink["records_written"] == written and written + sink["records_failed"] == out["pairs"]


# Forks after titlesim has tokenised, scored and opened a shadow log (Python's multiprocessing
# "fork" start method does this): the child's first call waited for ever on thread pools that
# only the parent has, and a child that merely exited hung in the exit hook. Run in a fresh
# interpreter, so that no pytest process forks. Prints one JSON document.
FORK_CHILD = r"""
import json, os, sys, time
import numpy as np
import titlesim

mean, cls, log = sys.argv[1], sys.argv[2], sys.argv[3]
cfg = os.path.join(os.path.dirname(log), "fork.toml")
with open(cfg, "w") as f:
    f.write(f'[canonical]\nmodel = {json.dumps(mean)}\nthreshold = 0.9\n'
            f'[shadow]\nmodel = {json.dumps(cls)}\nthreshold = 0.8\n'
            f'[shadow_options]\nlog = {json.dumps(log)}\n')
texts = ["USB C Cable 2 Pack", "usb-c cord, two pack", "HDMI cable"]
model = titlesim.Model(mean, threads=2)
want = model.encode(texts)
scorer = titlesim.Scorer.from_config(cfg)
scorer.score(texts, texts[::-1], ids=["p1", "p2", "p3"])

def in_child(work, exit_normally=False):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            out = work()
        except BaseException as e:
            out = f"{type(e).__module__}.{type(e).__name__}: {e}"
        os.write(w, json.dumps(out).encode())
        os.close(w)
        if exit_normally:
            sys.exit(0)  # the interpreter's exit: atexit hooks run
        os._exit(0)
    os.close(w)
    for _ in range(300):
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return {"said": json.loads(os.read(r, 65536) or b"null"), "status": status}
        time.sleep(0.1)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    return {"said": "hung", "status": None}

report = {
    "inherited_model": in_child(lambda: model.encode(texts).tolist()),
    "inherited_scorer": in_child(lambda: float(scorer.score_pair(texts[0], texts[1]).cosine)),
    "from_parent_model": in_child(lambda: repr(titlesim.Scorer.from_model(model, 0.5))),
    "new_model": in_child(lambda: bool(np.array_equal(titlesim.Model(mean, threads=2).encode(texts), want))),
    "exit": in_child(lambda: "bye", exit_normally=True),
}
scorer.score_pair(texts[0], texts[2], id="p4")
# A child still alive shares the log's open file, and with it the lock: closing the scorer
# releases it all the same, so the parent can open the log again.
sleeper = os.fork()
if sleeper == 0:
    time.sleep(3)
    os._exit(0)
scorer.close()
try:
    with titlesim.Scorer.from_config(cfg) as again:
        again.score_pair(texts[1], texts[2], id="p5")
    report["reopened"] = True
except titlesim.Error as e:
    report["reopened"] = str(e)
os.waitpid(sleeper, 0)
report["log_ids"] = [json.loads(line)["pair_id"] for line in open(log)]
print(json.dumps(report))
"""


def test_a_fork_of_a_process_that_used_titlesim_neither_hangs_nor_runs_its_parents_objects(tmp_path):
    import subprocess
    import sys

    log = tmp_path / "shadow.jsonl"
    r = subprocess.run([sys.executable, "-c", FORK_CHILD, str(MEAN), str(CLS), str(log)],
                       capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout.strip().splitlines()[-1])
    for key, what in (("inherited_model", "Model"), ("inherited_scorer", "Scorer"),
                      ("from_parent_model", "Model")):
        said = report[key]["said"]
        assert said.startswith(f"titlesim.Error: this {what} was made in process "), (key, said)
        assert "forked from it" in said and '"spawn"' in said, said
    # A model made in the child works, with the parent's vectors.
    assert report["new_model"]["said"] is True, report["new_model"]
    # A child leaving through the interpreter's exit does not hang in the exit hook, nor
    # write its parent's records; the parent's log holds each of its pairs once.
    assert report["exit"] == {"said": "bye", "status": 0}, report["exit"]
    assert report["reopened"] is True, report["reopened"]
    assert report["log_ids"] == ["p1", "p2", "p3", "p4", "p5"], report["log_ids"]
