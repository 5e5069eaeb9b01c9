"""Scoring Arrow batches of pairs with a configuration's two models: the part that
``titlesim.spark`` and ``titlesim.ray`` share.

A batch has columns ``id``, ``product`` and ``gt`` (``phase`` and ``label`` are carried
through when present). Each model is loaded once per process, alone (nothing is logged), so
the cosines are exactly those ``titlesim replay`` writes for the same pairs.
"""

from __future__ import annotations

import os
import re
from typing import Any

from ._titlesim import _checked_pairs

#: The columns of a scored batch, as a Spark DDL schema.
SCHEMA_DDL = (
    "id string, phase string, label int, canonical_cosine float, canonical_pass boolean, "
    "shadow_cosine float, shadow_pass boolean"
)

_MODELS: dict[tuple[str, int | None], tuple[Any, Any]] = {}


def models(config: str, threads: int | None) -> tuple[Any, Any]:
    """The canonical and shadow scorers of ``config``, loaded once per process."""
    key = (os.path.abspath(config), threads)
    if key not in _MODELS:
        from . import Scorer

        _MODELS[key] = (
            Scorer.from_config(config, model="canonical", threads=threads),
            Scorer.from_config(config, model="shadow", threads=threads),
        )
    return _MODELS[key]


def _column(batch: Any, name: str, required: bool) -> list | None:
    names = batch.schema.names
    if name not in names:
        if required:
            raise ValueError(
                f"the batch has no column {name!r} (it has: {', '.join(names)}); "
                "pairs need id, product and gt"
            )
        return None
    return batch.column(names.index(name)).to_pylist()


def _ids(batch: Any) -> list[str | None]:
    """The id column as text. Floating-point ids are refused, as ``titlesim replay`` refuses
    them: ``3`` read as ``3.0`` would not be the id ``titlesim score`` logged."""
    names = batch.schema.names
    if "id" in names:
        import pyarrow as pa

        t = batch.schema.field("id").type
        if pa.types.is_dictionary(t):
            t = t.value_type
        if pa.types.is_floating(t) or (pa.types.is_decimal(t) and t.scale != 0):
            raise ValueError(
                f"the ids are read as {t}: `3` would be `3.0`, unlike the id titlesim score "
                "logs, and long ids lose digits; write the ids as strings or integers"
            )
    return [None if i is None else str(i) for i in _column(batch, "id", True)]


def _label(pair_id: str, value: Any) -> int | None:
    """A label as ``titlesim replay`` reads it: none, or a number (or its text) equal to 0 or
    1. Anything else (``0.9``, ``2``, ``"yes"``) raises ``ValueError`` naming the pair: a
    label cut to an integer would count a doubtful pair as gold."""
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = None
    if number == 1.0:
        return 1
    if number == 0.0:
        return 0
    raise ValueError(f"pair {pair_id!r} has label {value!r}; a label is 1 (same product) or 0")


def score_batch(batch: Any, config: str, threads: int | None = None) -> Any:
    """Scores a ``pyarrow.RecordBatch`` (or ``Table``) of pairs; returns a ``RecordBatch``
    with ``id, phase, label, canonical_cosine, canonical_pass, shadow_cosine, shadow_pass``.

    Pairs are read by the rules of ``titlesim replay``: ids and phases trimmed (a blank phase
    is none), and a pair without an id, with an empty id, a control character in its id or
    phase, a reserved phase (``(none)``, ``(pooled)``), a NUL byte or over 64 KiB in
    a title, or a label other than 0 or 1 (``0.9`` is refused, not cut to 0) raises
    ``ValueError`` naming it: nothing is dropped or guessed. Floating-point ids are refused.
    A missing product or gt (``None``: an empty CSV field, a JSON null) is an empty title,
    scored by the blank-title rule as ``titlesim replay`` and ``titlesim score`` score it.
    Repeated ids are not looked for: whether both fell in one batch would depend on where the
    batches were cut.
    """
    import pyarrow as pa

    ids = _ids(batch)
    products = _column(batch, "product", True)
    gts = _column(batch, "gt", True)
    n = len(ids)
    phases = _column(batch, "phase", False) or [None] * n
    labels = _column(batch, "label", False) or [None] * n
    for i in range(n):
        if ids[i] is None:
            raise ValueError(f"a row has no id (product {products[i]!r}, gt {gts[i]!r})")
    products = ["" if p is None else p for p in products]
    gts = ["" if g is None else g for g in gts]
    phases = [None if p is None else str(p) for p in phases]
    # The rules every input path applies, in the scorer's own words; its errors name a place
    # in this batch (``phases[3]``), which the pair's id makes findable.
    try:
        checked_ids, phases = _checked_pairs(ids, phases, products, gts)
    except (ValueError, TypeError) as e:
        at = re.match(r"(?:ids|phases|products|gts)\[(\d+)\]", str(e))
        if at is None:
            raise
        raise type(e)(f"pair {ids[int(at.group(1))]!r}: {e}") from e
    labels = [_label(checked_ids[i], labels[i]) for i in range(n)]
    out: dict[str, Any] = {
        "id": pa.array(checked_ids, pa.string()),
        "phase": pa.array(phases, pa.string()),
        "label": pa.array(labels, pa.int32()),
    }
    if n == 0:
        for side in ("canonical", "shadow"):
            out[f"{side}_cosine"] = pa.array([], pa.float32())
            out[f"{side}_pass"] = pa.array([], pa.bool_())
        return pa.RecordBatch.from_pydict(out)
    canonical, shadow = models(config, threads)
    for side, scorer in (("canonical", canonical), ("shadow", shadow)):
        s = scorer.score(products, gts)
        out[f"{side}_cosine"] = pa.array(s.cosine, pa.float32())
        out[f"{side}_pass"] = pa.array(s.passed, pa.bool_())
    return pa.RecordBatch.from_pydict(out)
