"""Replaying history on Ray Data: ``titlesim replay``'s scoring across a Ray cluster.

::

    import ray
    from titlesim.ray import replay
    ds = ray.data.read_parquet("s3://logs/pairs/")
    replay(ds, "/opt/titlesim/titlesim.toml", concurrency=4).write_parquet("s3://logs/replayed/")

``replay`` runs ``Dataset.map_batches`` with the callable class ``Replayer``: each actor
loads the configuration's two models once and scores Arrow batches. The configuration (and
the model folders and GT stores it names) must be readable at the same path on every node.
The cosines are bit-identical to those ``titlesim replay`` writes. ray is imported only when
``replay`` is called.
"""

from __future__ import annotations

from typing import Any

from ._replay import models, score_batch

__all__ = ["Replayer", "replay"]


class Replayer:
    """A callable class for ``Dataset.map_batches(Replayer, fn_constructor_kwargs=...,
    batch_format="pyarrow")``: loads the models of ``config`` once, then scores each batch
    (columns ``id``, ``product``, ``gt``; optional ``phase``, ``label``) into a
    ``pyarrow.Table`` of ``id, phase, label, canonical_cosine, canonical_pass, shadow_cosine,
    shadow_pass``."""

    def __init__(self, config: str, threads: int | None = 1) -> None:
        self.config = str(config)
        self.threads = threads
        models(self.config, threads)

    def __call__(self, batch: Any) -> Any:
        import pyarrow as pa

        return pa.Table.from_batches([score_batch(batch, self.config, self.threads)])


def replay(ds: Any, config: str, *, threads: int | None = 1, concurrency: int = 1) -> Any:
    """Scores the pairs of a Ray ``Dataset`` with ``concurrency`` actors of ``Replayer``
    (each model on ``threads`` compute threads per actor)."""
    import ray  # noqa: F401  (the engine is needed from here on)

    return ds.map_batches(
        Replayer,
        fn_constructor_kwargs={"config": str(config), "threads": threads},
        batch_format="pyarrow",
        concurrency=concurrency,
    )
