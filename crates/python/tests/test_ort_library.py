"""The ort backend finds ONNX Runtime in the `onnxruntime` package of the running interpreter,
with nothing else pointing at a library (`cargo xtask test` installs the package, from the
wheel `fetch-models` downloaded, into the test environment)."""

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import titlesim
from conftest import FIXTURES

SCRIPT = """
import sys, titlesim
model = titlesim.Model(sys.argv[1], backend="ort", threads=1)
model.encode(["USB C Cable 2 Pack"]).tofile(sys.argv[2])
maps = open("/proc/self/maps").read().split()
print(next(p for p in maps if "libonnxruntime" in p))
"""


def test_ort_is_found_in_the_interpreters_onnxruntime_package(tmp_path):
    spec = importlib.util.find_spec("onnxruntime")
    if spec is None or not spec.submodule_search_locations:
        pytest.fail("this interpreter has no onnxruntime package: pip install onnxruntime==1.31.1")
    capi = Path(list(spec.submodule_search_locations)[0]) / "capi"
    # A model folder away from any models/ folder, a working directory without one, and no
    # variable naming a library: only the package can provide it.
    model = tmp_path / "model"
    shutil.copytree(FIXTURES / "tiny-bert-mean", model)
    env = {k: v for k, v in os.environ.items()
           if k not in ("ORT_DYLIB_PATH", "TITLESIM_MODELS_DIR", "VIRTUAL_ENV")}
    env["PATH"] = "/nonexistent"  # no `python3` to ask either
    out = tmp_path / "v.f32"
    r = subprocess.run([sys.executable, "-c", SCRIPT, str(model), str(out)], cwd=tmp_path,
                       env=env, capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr
    loaded = Path(r.stdout.strip())
    assert loaded.parent == capi, f"loaded {loaded}, expected one from {capi}"
    got = np.fromfile(out, dtype=np.float32)
    want = titlesim.Model(FIXTURES / "tiny-bert-mean", threads=1).encode(["USB C Cable 2 Pack"])[0]
    assert np.abs(got - want).max() <= 1e-5
