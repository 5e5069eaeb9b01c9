"""titlesim.ray and titlesim.spark: scoring Arrow batches of history with a configuration's
two models, bit-identical to what `titlesim replay` writes for the same pairs.

The Spark test runs Spark in local mode (`local[2]`) and is opt-in: `cargo xtask test --spark`
installs pyspark (and a JRE when missing) and sets TITLESIM_TEST_SPARK=1.
"""

import csv
import json
import os
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

import titlesim
from conftest import FIXTURES, reference, run_cli


def make_case(tmp_path: Path):
    texts = []
    for t in reference("tiny-bert-mean")["texts"]:
        if t.strip() and t not in texts and len(texts) < 6:
            texts.append(t)
    rows = [
        (f"p{a}-{b}", "race" if (a + b) % 3 else "qualifying", texts[a], texts[b], (a + b) % 2)
        for a in range(len(texts))
        for b in range(len(texts))
        if a != b
    ]
    history = tmp_path / "history.csv"
    with history.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "phase", "product", "gt", "label"])
        w.writerows(rows)
    cfg = tmp_path / "titlesim.toml"
    cfg.write_text(
        f'[canonical]\nmodel = "{FIXTURES / "tiny-bert-mean"}"\nbackend = "candle"\n'
        "threshold = 0.8\nthreads = 1\n"
        f'[shadow]\nmodel = "{FIXTURES / "tiny-bert-cls"}"\nbackend = "candle"\n'
        "threshold = 0.9\nthreads = 1\n"
    )
    return cfg, history, rows


def replayed(titlesim_bin, cfg, history, tmp_path):
    out = tmp_path / "replay.jsonl"
    run_cli(titlesim_bin, "replay", "-c", str(cfg), "-p", str(history), "-o", str(out))
    return {r["pair_id"]: r for r in map(json.loads, out.read_text().splitlines())}


def check(got: dict, records: dict):
    """`got`: id -> (phase, label, canonical cosine, pass, shadow cosine, pass)."""
    assert set(got) == set(records)
    for pid, (phase, label, cc, cp, sc, sp) in got.items():
        r = records[pid]
        assert (phase, label) == (r.get("phase"), r.get("label")), pid
        # Bit-identical: the log's shortest decimal of the f32 reads back to the same f32.
        assert np.float32(cc) == np.float32(r["canonical"]["cosine"]), pid
        assert np.float32(sc) == np.float32(r["shadow"]["cosine"]), pid
        assert (cp, sp) == (r["canonical"]["pass"], r["shadow"]["pass"]), pid


def test_ray_replayer_scores_batches_as_titlesim_replay(tmp_path, titlesim_bin):
    from titlesim.ray import Replayer

    cfg, history, rows = make_case(tmp_path)
    records = replayed(titlesim_bin, cfg, history, tmp_path)
    ids, phases, products, gts, labels = (list(c) for c in zip(*rows))
    table = pa.table(
        {"id": ids, "phase": phases, "product": products, "gt": gts, "label": labels}
    )
    replayer = Replayer(str(cfg))
    # In batches of different sizes: a title's vector does not depend on its batch.
    got = {}
    for start, size in ((0, 7), (7, 1), (8, len(rows) - 8)):
        out = replayer(table.slice(start, size))
        assert out.schema.names == [
            "id", "phase", "label",
            "canonical_cosine", "canonical_pass", "shadow_cosine", "shadow_pass",
        ]
        for r in out.to_pylist():
            got[r["id"]] = (
                r["phase"], r["label"], r["canonical_cosine"], r["canonical_pass"],
                r["shadow_cosine"], r["shadow_pass"],
            )
    check(got, records)


def test_a_bad_batch_raises_naming_the_pair(tmp_path):
    from titlesim._replay import score_batch

    cfg, _, _ = make_case(tmp_path)
    with pytest.raises(ValueError, match="no column 'gt'"):
        score_batch(pa.table({"id": ["1"], "product": ["a"]}), str(cfg))
    # A missing title is an empty one, scored by the blank-title rule (a fail), not refused.
    got = score_batch(pa.table({"id": ["7", "8"], "product": [None, ""], "gt": ["b", "b"]}), str(cfg))
    assert got.column("canonical_cosine").to_pylist() == [0.0, 0.0]
    assert got.column("canonical_pass").to_pylist() == [False, False]
    empty = score_batch(pa.table({"id": pa.array([], pa.string()), "product": [], "gt": []}), str(cfg))
    assert empty.num_rows == 0


def test_labels_are_0_or_1_as_titlesim_replay_reads_them(tmp_path):
    """A label of 0.9 was cut to 0 (a doubtful pair counted as gold); 2 went through."""
    from titlesim._replay import score_batch

    cfg, _, _ = make_case(tmp_path)
    pairs = {"id": ["1", "2"], "product": ["a", "c"], "gt": ["b", "d"]}
    for bad in ([1, 0.9], [1, 2], ["1", "yes"], [0, float("nan")]):
        with pytest.raises(ValueError, match=r"pair '2' has label .*; a label is 1 \(same product\) or 0"):
            score_batch(pa.table({**pairs, "label": bad}), str(cfg))
    for good, want in (([1.0, 0.0], [1, 0]), ([True, None], [1, None]), (["1", "0.0"], [1, 0])):
        got = score_batch(pa.table({**pairs, "label": good}), str(cfg))
        assert got.column("label").to_pylist() == want, good


def test_ids_and_phases_follow_the_rules_of_titlesim_replay(tmp_path):
    """Ids and phases reached the output untrimmed and unchecked (an empty id, a reserved or
    control-character phase), unlike `titlesim replay` and the shadow logs they join with."""
    from titlesim._replay import score_batch

    cfg, _, _ = make_case(tmp_path)
    got = score_batch(
        pa.table({"id": [" 7 ", "8", "9"], "product": ["a", "c", "e"], "gt": ["b", "d", "f"],
                  "phase": [" race ", "   ", None]}),
        str(cfg),
    )
    assert got.column("id").to_pylist() == ["7", "8", "9"]
    assert got.column("phase").to_pylist() == ["race", None, None]
    pairs = {"id": ["1", "2"], "product": ["a", "c"], "gt": ["b", "d"]}
    for extra, message in (
        ({"phase": ["race", "(none)"]}, r"pair '2': phases\[1\]: .*a name calibration gives"),
        ({"phase": ["race", "ra\x1bce"]}, r"pair '2': phases\[1\]: .*control character U\+001B"),
        ({"id": ["1", "  "]}, r"pair '  ': ids\[1\]: the id is empty"),
        ({"product": ["a", "c\x00"]}, r"pair '2': products\[1\]"),
    ):
        with pytest.raises(ValueError, match=message):
            score_batch(pa.table({**pairs, **extra}), str(cfg))
    # A title that is not text names its pair, as the scorer names its place.
    with pytest.raises(TypeError, match=r"pair '1': products\[0\]: expected str, got int"):
        score_batch(pa.table({**pairs, "product": [1, 7]}), str(cfg))
    # A repeated id is scored, as it would be were the two rows in two batches: whether a
    # batch fails must not depend on where the batches were cut.
    twice = score_batch(pa.table({**pairs, "id": ["1", " 1"]}), str(cfg))
    assert twice.column("id").to_pylist() == ["1", "1"]
    # Ids read as floats are refused, as `titlesim replay` refuses them: 3 would be "3.0";
    # dictionary-encoded ones too.
    with pytest.raises(ValueError, match="the ids are read as double"):
        score_batch(pa.table({**pairs, "id": [1.0, 2.0]}), str(cfg))
    coded = pa.array([1.0, 2.0]).dictionary_encode()
    with pytest.raises(ValueError, match="the ids are read as double"):
        score_batch(pa.table({**pairs, "id": coded}), str(cfg))
    ints = score_batch(pa.table({**pairs, "id": [1, 2]}), str(cfg))
    assert ints.column("id").to_pylist() == ["1", "2"]


def test_a_single_model_scorer_logs_nothing_and_refuses_a_missing_shadow(tmp_path):
    cfg, _, _ = make_case(tmp_path)
    s = titlesim.Scorer.from_config(cfg, model="shadow", threads=1)
    assert s.shadow_model is None and s.threshold == pytest.approx(0.9)
    only = tmp_path / "only.toml"
    only.write_text(cfg.read_text().split("[shadow]")[0])
    with pytest.raises(titlesim.ConfigError, match="no \\[shadow\\] table"):
        titlesim.Scorer.from_config(only, model="shadow")
    with pytest.raises(ValueError, match="model"):
        titlesim.Scorer.from_config(cfg, model="candidate")


@pytest.mark.skipif(
    os.environ.get("TITLESIM_TEST_SPARK") != "1",
    reason="opt-in: cargo xtask test --spark",
)
def test_spark_local_mode_gives_the_cosines_of_titlesim_replay(tmp_path, titlesim_bin):
    from pyspark.sql import SparkSession

    from titlesim.spark import replay

    cfg, history, rows = make_case(tmp_path)
    records = replayed(titlesim_bin, cfg, history, tmp_path)
    # The workers run this interpreter, where titlesim is installed.
    os.environ["PYSPARK_PYTHON"] = sys.executable
    spark = (
        SparkSession.builder.master("local[2]")
        .appName("titlesim-test")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", "7")
        .getOrCreate()
    )
    try:
        df = spark.createDataFrame(
            rows, "id string, phase string, product string, gt string, label int"
        ).repartition(3)
        got = {
            r["id"]: (
                r["phase"], r["label"], r["canonical_cosine"], r["canonical_pass"],
                r["shadow_cosine"], r["shadow_pass"],
            )
            for r in replay(df, str(cfg)).collect()
        }
        # Labels as text are read as titlesim replay reads them: "1" is 1, and "yes" is an
        # error naming the pair (a cast to double made it a NULL without a word).
        text = spark.createDataFrame(
            [("a", "x", "y", "1"), ("b", "x", "z", "yes")], "id string, product string, gt string, label string"
        )
        with pytest.raises(Exception, match=r"pair 'b' has label 'yes'"):
            replay(text, str(cfg)).collect()
        one = replay(text.limit(1), str(cfg)).collect()
        assert [(r["id"], r["label"]) for r in one] == [("a", 1)]
        # Ids read as doubles are refused before anything runs.
        with pytest.raises(ValueError, match="the ids are double"):
            replay(spark.createDataFrame([(1.0, "x", "y")], "id double, product string, gt string"), str(cfg))
    finally:
        spark.stop()
    check(got, records)
