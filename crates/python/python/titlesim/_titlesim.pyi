"""Type stubs of titlesim's native module (re-exported by ``titlesim``)."""

import os
from typing import Any, Iterable, Literal, Optional, Sequence, Union, overload

import numpy as np
import numpy.typing as npt

__version__: str
backends: list[str]

_Path = Union[str, os.PathLike[str]]
_Threshold = Union[float, str]

class Model:
    """An embedding model on one backend: ``encode`` texts, compare with ``similarity``."""

    def __init__(
        self,
        model: _Path,
        backend: Literal["candle", "ort", "onnx", "tract"] = "candle",
        threads: Optional[int] = None,
        dtype: Optional[Literal["f32", "int8", "bf16"]] = None,
        *,
        batch_size: Optional[int] = None,
        max_length: Optional[int] = None,
        pooling: Optional[Literal["cls", "mean", "max", "last-token"]] = None,
        normalize: Optional[bool] = None,
        padding_side: Optional[Literal["left", "right"]] = None,
        append_eos: Optional[bool] = None,
        onnx: Optional[_Path] = None,
        onnx_output: Optional[str] = None,
        ort_library: Optional[_Path] = None,
        optimization: Optional[Literal["disable", "basic", "extended", "layout", "all"]] = None,
        revision: Optional[str] = None,
        spin: Optional[bool] = None,
    ) -> None: ...
    @overload
    def encode(
        self,
        texts: str,
        *,
        batch_size: int = 32,
        normalize_embeddings: Optional[bool] = None,
        prompt_name: Optional[str] = None,
        show_progress_bar: Optional[bool] = None,
        convert_to_numpy: bool = True,
        convert_to_tensor: bool = False,
    ) -> npt.NDArray[np.float32]: ...
    @overload
    def encode(
        self,
        texts: Iterable[str],
        *,
        batch_size: int = 32,
        normalize_embeddings: Optional[bool] = None,
        prompt_name: Optional[str] = None,
        show_progress_bar: Optional[bool] = None,
        convert_to_numpy: bool = True,
        convert_to_tensor: bool = False,
    ) -> npt.NDArray[np.float32]: ...
    def similarity(self, a: npt.ArrayLike, b: npt.ArrayLike) -> npt.NDArray[np.float32]: ...
    @property
    def dim(self) -> int: ...
    def get_sentence_embedding_dimension(self) -> int: ...
    @property
    def normalize(self) -> bool: ...
    @property
    def backend(self) -> str: ...
    @property
    def model(self) -> str: ...
    @property
    def fingerprint(self) -> str: ...
    @property
    def max_seq_length(self) -> int: ...
    @property
    def warnings(self) -> list[str]: ...

class Scores:
    """The verdicts of ``Scorer.score``, in the order of the pairs given."""

    @property
    def ids(self) -> list[str]: ...
    @property
    def cosine(self) -> npt.NDArray[np.float32]: ...
    @property
    def passed(self) -> npt.NDArray[np.bool_]: ...
    @property
    def gt_from_store(self) -> npt.NDArray[np.bool_]: ...
    @property
    def threshold(self) -> float: ...
    def __len__(self) -> int: ...

class Verdict:
    """The verdict of ``Scorer.score_pair`` (truthy when the pair passed)."""

    @property
    def cosine(self) -> float: ...
    @property
    def passed(self) -> bool: ...
    @property
    def threshold(self) -> float: ...
    @property
    def gt_from_store(self) -> bool: ...
    def __bool__(self) -> bool: ...

class Scorer:
    """Judges (product, ground-truth) pairs; logs the shadow model beside the canonical one."""

    @staticmethod
    def from_config(
        path: _Path, model: str | None = None, threads: int | None = None
    ) -> Scorer: ...
    @staticmethod
    def from_model(model: Model, threshold: _Threshold) -> Scorer: ...
    def score(
        self,
        products: Sequence[str],
        gts: Sequence[str],
        ids: Optional[Sequence[str]] = None,
        phases: Optional[Sequence[Optional[str]]] = None,
        labels: Optional[Sequence[Optional[int]]] = None,
    ) -> Scores: ...
    def score_pair(
        self,
        product: str,
        gt: str,
        id: Optional[str] = None,
        phase: Optional[str] = None,
        label: Optional[int] = None,
    ) -> Verdict: ...
    @property
    def threshold(self) -> float: ...
    @property
    def model(self) -> str: ...
    @property
    def shadow_model(self) -> Optional[str]: ...
    @property
    def warnings(self) -> list[str]: ...
    @property
    def counts(self) -> dict[str, int]: ...
    def close(self) -> Optional[dict[str, Any]]:
        """Writes the shadow's last records and closes its sinks; returns the report (``tally``,
        ``sinks``), ``None`` without a shadow or when already closed. Raises
        ``titlesim.FileError`` when a sink did not write every record (the verdicts stand; the
        report is the exception's ``report``)."""
    def __enter__(self) -> Scorer: ...
    def __exit__(self, *exc: object) -> bool:
        """``close()``; lost records raise ``titlesim.FileError``, or only warn when the block
        is ending with an exception already."""

def calibrate(
    logs: Union[_Path, Sequence[_Path]],
    canon_threshold: Optional[_Threshold] = None,
    grid: str = "0.50:0.99:0.01",
    floor: float = 0.78,
    propose: Optional[_Threshold] = None,
) -> dict[str, Any]: ...
def review_export(
    logs: Union[_Path, Sequence[_Path]],
    shadow_threshold: _Threshold,
    out: _Path,
    canon_threshold: Optional[_Threshold] = None,
    sample: Optional[int] = None,
    seed: int = 0,
    force: bool = False,
) -> dict[str, Any]: ...
def review_tally(path: _Path, require_complete: bool = False) -> dict[str, Any]: ...
def precompute(
    config: _Path,
    titles: Sequence[str],
    side: Literal["canonical", "shadow"] = "canonical",
    out: Optional[_Path] = None,
    chunk_size: int = 256,
    batch_size: Optional[int] = None,
) -> dict[str, Any]: ...
def _close_all() -> None: ...
def _after_fork_in_child() -> None: ...
def _scores(
    ids: list[str],
    cosine: npt.NDArray[np.float32],
    passed: npt.NDArray[np.bool_],
    gt_from_store: npt.NDArray[np.bool_],
    threshold: float,
) -> Scores: ...
def _verdict(cosine: float, passed: bool, threshold: float, gt_from_store: bool) -> Verdict: ...
def _checked_pairs(
    ids: list[str],
    phases: list[Optional[str]],
    products: list[str],
    gts: list[str],
) -> tuple[list[str], list[Optional[str]]]: ...
