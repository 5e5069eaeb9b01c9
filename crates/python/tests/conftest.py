"""Shared fixtures of the titlesim package's tests.

The paths come from the environment `cargo xtask test` sets (TITLESIM_MODELS_DIR for the real
models, TITLESIM_BIN for the CLI built by `cargo test`), with the repository's own folders as
defaults. A missing model or binary fails the test with what to run: nothing is skipped
silently.
"""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
FIXTURES = ROOT / "tests" / "fixtures"


def models_dir() -> Path:
    return Path(os.environ.get("TITLESIM_MODELS_DIR", ROOT / "models"))


@pytest.fixture(scope="session")
def minilm() -> Path:
    path = models_dir() / "all-MiniLM-L6-v2"
    if not (path / "model.safetensors").exists():
        pytest.fail(f"{path} is missing: run `cargo xtask fetch-models`")
    return path


@pytest.fixture(scope="session")
def titlesim_bin() -> Path:
    explicit = os.environ.get("TITLESIM_BIN")
    candidates = [Path(explicit)] if explicit else []
    candidates += [ROOT / "target" / p / "titlesim" for p in ("debug", "release")]
    found = shutil.which("titlesim")
    if found:
        candidates.append(Path(found))
    for c in candidates:
        if c.is_file():
            return c
    pytest.fail("no titlesim binary: run `cargo build -p titlesim-cli` or set TITLESIM_BIN")


def run_cli(binary: Path, *args: str, stdin: str | None = None) -> str:
    """Runs the CLI, failing the test with its stderr when it fails; returns stdout."""
    r = subprocess.run(
        [str(binary), *args], input=stdin, capture_output=True, text=True, check=False
    )
    assert r.returncode == 0, f"titlesim {' '.join(args)} failed:\n{r.stderr}"
    return r.stdout


def reference(name: str) -> dict:
    """A sentence-transformers reference written by scripts/generate_fixtures.py."""
    return json.loads((FIXTURES / "references" / f"{name}.json").read_text())


def write_config(path: Path, canonical: str, shadow: str | None = None, options: str = "") -> Path:
    """A configuration file: `canonical` and `shadow` are the bodies of their tables."""
    text = f"[canonical]\n{canonical}\n"
    if shadow is not None:
        text += f"\n[shadow]\n{shadow}\n"
    if options:
        text += f"\n[shadow_options]\n{options}\n"
    path.write_text(text)
    return path


def table(model: Path, threshold: float, extra: str = "") -> str:
    """The body of a model table on candle, one thread."""
    return (
        f'model = {json.dumps(str(model))}\nbackend = "candle"\nthreshold = {threshold}\n'
        f"threads = 1\n{extra}"
    )


# Product/ground-truth pairs with repeated GT titles, as in a validator's traffic.
PRODUCTS = [
    "Apple iPhone 15 128GB Black",
    "Samsung Galaxy S24 Ultra 256GB Titanium Gray",
    "Sony WH-1000XM5 Wireless Noise Cancelling Headphones",
    "Logitech MX Master 3S Mouse",
    "iPhone 15 Black 128 GB",
    "Galaxy S24 Ultra, titanium grey, 256 GB",
    "Bose QuietComfort 45",
    "Dell XPS 13 Laptop 16GB RAM",
]
GTS = [
    "iPhone 15 (128 GB) - Black",
    "Samsung Galaxy S24 Ultra 256GB",
    "Sony WH-1000XM5 Headphones",
    "Logitech MX Master 3S",
    "iPhone 15 (128 GB) - Black",
    "Samsung Galaxy S24 Ultra 256GB",
    "Sony WH-1000XM5 Headphones",
    "Dell XPS 13 9340",
]
