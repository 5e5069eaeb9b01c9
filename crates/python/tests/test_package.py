"""The package as a whole: its stubs match the module, every public callable documents
itself, and a Rust panic becomes an exception, not a crash."""

import ast
import inspect
from pathlib import Path

import pytest

import titlesim
from titlesim import _titlesim

STUB = Path(titlesim.__file__).with_name("_titlesim.pyi")


def stub_names():
    """Top-level names and each class's members, as the stub declares them."""
    tree = ast.parse(STUB.read_text())
    top, members = set(), {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            top.add(node.name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            top.add(node.target.id)
        if isinstance(node, ast.ClassDef):
            members[node.name] = {n.name for n in node.body if isinstance(n, ast.FunctionDef)}
    return top, members


def test_the_stub_declares_what_the_module_has():
    top, members = stub_names()
    runtime = {n for n in dir(_titlesim) if not n.startswith("__") or n == "__version__"}
    runtime.discard("_panic_for_tests")  # a test hook, deliberately left out of the stub
    assert top - {"_Path", "_Threshold"} == runtime
    for cls, names in members.items():
        declared = {n for n in names if not n.startswith("_")}
        have = {n for n in dir(getattr(_titlesim, cls)) if not n.startswith("_")}
        assert declared == have, cls


def test_every_public_callable_documents_itself():
    for name in titlesim.__all__:
        obj = getattr(titlesim, name)
        if not callable(obj) or (isinstance(obj, type) and issubclass(obj, Exception)):
            continue
        assert inspect.getdoc(obj), name
        if isinstance(obj, type):
            for m, member in vars(obj).items():
                if not m.startswith("_"):
                    assert inspect.getdoc(member), f"{name}.{m}"


def test_help_is_a_manual():
    doc = inspect.getdoc(titlesim.Scorer)
    for word in ("from_config", "shadow", "gt_store", "close()", "GIL"):
        assert word in doc, word
    assert "normalize_embeddings" in inspect.getdoc(titlesim.Model.encode)


def test_a_rust_panic_is_an_exception_not_a_crash():
    with pytest.raises(titlesim.Error, match="internal error.*deliberate panic"):
        _titlesim._panic_for_tests()
    # The interpreter and the package go on working.
    assert titlesim.Model is _titlesim.Model
