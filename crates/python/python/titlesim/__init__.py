"""titlesim: text similarity with sentence embeddings, from Rust.

- ``Model(model, backend="candle")``: ``encode(texts)`` and ``similarity(a, b)``, called as
  sentence-transformers' ``SentenceTransformer`` is, on candle, ONNX Runtime or tract.
- ``Scorer.from_config(path)``: verdicts (cosine at or above the threshold) for
  (product, ground-truth) pairs with the models of a titlesim configuration file, its GT store,
  and the shadow model logged beside the canonical one.
- ``precompute``, ``calibrate``, ``review_export``, ``review_tally``: the rest of the
  shadow -> calibrate -> review protocol, as dicts (``calibrate`` and ``review_tally``: what
  the CLI prints with ``--json``).
- ``Error`` and its subclasses: every failure of titlesim's work, with the CLI's message; a
  bad argument raises ``TypeError`` or ``ValueError``.

See ``help(titlesim.Model)`` and ``help(titlesim.Scorer)``.
"""

import atexit as _atexit
import os as _os

from . import _titlesim
from ._errors import (
    BackendError,
    ConfigError,
    Error,
    FileError,
    InputError,
    ModelError,
    StoreError,
)
from ._titlesim import (
    Model,
    Scorer,
    Scores,
    Verdict,
    backends,
    calibrate,
    precompute,
    review_export,
    review_tally,
)

__version__: str = _titlesim.__version__

# Scorers left open at exit still write their last shadow records.
_atexit.register(_titlesim._close_all)
# A child forked after titlesim tokenised anything has none of the tokenizer pool's threads:
# tokenise on the calling thread there (Models and Scorers made before the fork are refused in
# the child with an error saying so; new ones work).
if hasattr(_os, "register_at_fork"):  # not on Windows, which has no fork
    _os.register_at_fork(after_in_child=_titlesim._after_fork_in_child)

__all__ = [
    "BackendError",
    "ConfigError",
    "Error",
    "FileError",
    "InputError",
    "Model",
    "ModelError",
    "Scorer",
    "Scores",
    "StoreError",
    "Verdict",
    "__version__",
    "backends",
    "calibrate",
    "precompute",
    "review_export",
    "review_tally",
]
