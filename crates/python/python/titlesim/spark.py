"""Replaying history on Apache Spark: ``titlesim replay``'s scoring across a cluster.

::

    from titlesim.spark import replay
    scored = replay(spark.read.parquet("s3://logs/pairs/"), "/opt/titlesim/titlesim.toml")
    scored.write.parquet("s3://logs/replayed/")

``replay`` runs ``DataFrame.mapInArrow``: Arrow batches in and out, each executor's Python
worker loading the configuration's two models once. The configuration (and the model folders
and GT stores it names) must be readable at the same path on every executor. The cosines are
bit-identical to those ``titlesim replay`` writes for the same pairs. pyspark and pyarrow are
imported only when ``replay`` is called.
"""

from __future__ import annotations

from typing import Any

from ._replay import SCHEMA_DDL, score_batch

__all__ = ["SCHEMA_DDL", "replay"]


def replay(df: Any, config: str, *, threads: int | None = 1) -> Any:
    """Scores the pairs of a Spark ``DataFrame`` (columns ``id``, ``product``, ``gt``;
    optional ``phase``, ``label``) with the canonical and shadow models of ``config``.

    Returns a DataFrame of ``SCHEMA_DDL``: ``id, phase, label, canonical_cosine,
    canonical_pass, shadow_cosine, shadow_pass``. ``threads`` is each model's compute threads
    per Python worker (Spark runs one worker per task slot: keep slots × threads within the
    executor's cores; default 1).
    """
    from pyspark.sql import functions as F
    from pyspark.sql.types import BooleanType, DecimalType, FractionalType, NumericType

    cols = set(df.columns)
    missing = [c for c in ("id", "product", "gt") if c not in cols]
    if missing:
        raise ValueError(
            f"the DataFrame has no column {', '.join(missing)} (it has: {', '.join(df.columns)})"
        )
    id_type = df.schema["id"].dataType
    if isinstance(id_type, FractionalType) and not (
        isinstance(id_type, DecimalType) and id_type.scale == 0
    ):
        raise ValueError(
            f"the ids are {id_type.simpleString()}: `3` would be `3.0`, unlike the id titlesim "
            "score logs, and long ids lose digits; cast them to strings or integers"
        )
    label_type = df.schema["label"].dataType if "label" in cols else None
    selected = [
        F.col("id").cast("string").alias("id"),
        F.col("product").cast("string").alias("product"),
        F.col("gt").cast("string").alias("gt"),
        (F.col("phase").cast("string") if "phase" in cols else F.lit(None).cast("string")).alias(
            "phase"
        ),
        # Numbers and booleans as doubles, not ints: a cast to int would cut a label of 0.9 to
        # 0 before ``score_batch`` could refuse it. Anything else as text, for ``score_batch``
        # to read ("1") or refuse ("yes") naming the pair: Spark casts "yes" to a double as a
        # NULL without a word (outside ANSI mode), and a gold label would be lost.
        (
            F.col("label").cast(
                "double" if isinstance(label_type, (NumericType, BooleanType)) else "string"
            )
            if label_type is not None
            else F.lit(None).cast("double")
        ).alias("label"),
    ]
    config = str(config)

    def score(batches):  # runs on the executors
        for b in batches:
            yield score_batch(b, config, threads)

    return df.select(*selected).mapInArrow(score, SCHEMA_DDL)
