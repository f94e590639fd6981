"""The compiled build: the module list agrees with pyproject.toml, and CI tests what it built."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import pytest

from atproto_async._build import COMPILED_MODULES, compiled_modules, describe

ROOT = Path(__file__).resolve().parent.parent


def test_the_mypyc_hook_compiles_exactly_the_listed_modules() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    hook = config["tool"]["hatch"]["build"]["targets"]["wheel"]["hooks"]["mypyc"]
    included = sorted(
        path.strip("/").removesuffix(".py").replace("/", ".") for path in hook["include"]
    )
    assert included == sorted(COMPILED_MODULES)
    assert hook["enable-by-default"] is False  # editable installs stay pure Python
    for name in COMPILED_MODULES:
        assert (ROOT / (name.replace(".", "/") + ".py")).is_file(), name


@pytest.mark.skipif(
    os.environ.get("ATPROTO_ASYNC_EXPECT_COMPILED") != "1",
    reason="the compiled build is tested by .ci/run (ATPROTO_ASYNC_EXPECT_COMPILED=1)",
)
def test_the_compiled_build_is_what_runs() -> None:
    # Without this, a test run meant for the compiled wheel could import the sources.
    assert compiled_modules() == list(COMPILED_MODULES)
    assert describe() == f"compiled by mypyc ({len(COMPILED_MODULES)} modules)"


@pytest.mark.skipif(
    os.environ.get("ATPROTO_ASYNC_EXPECT_COMPILED") == "1", reason="the compiled build's run"
)
def test_a_plain_test_run_tests_the_sources() -> None:
    # Extensions left in the source tree by a build would shadow the .py files being edited.
    assert compiled_modules() == [], (
        "compiled modules are imported instead of the sources: delete the *.so files under "
        "atproto_async/, or set ATPROTO_ASYNC_EXPECT_COMPILED=1 to test a compiled install"
    )
    assert describe() == "pure Python"


def test_the_compiled_modules_avoid_what_mypyc_compiles_differently() -> None:
    import ast

    found = []
    for name in COMPILED_MODULES:
        path = ROOT / (name.replace(".", "/") + ".py")
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', '?')}"
            if isinstance(node, ast.Raise) and node.cause is not None:
                found.append(f"{where}: raise ... from (use caused_by)")
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "__new__"
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "object"
                and node.args
                and isinstance(node.args[0], ast.Name)
                and node.args[0].id in _classes_of(tree)
            ):
                found.append(f"{where}: object.__new__ of a class compiled with it")
            if isinstance(node, ast.ClassDef):
                methods = {f.name for f in node.body if isinstance(f, ast.FunctionDef)}
                for item in node.body:
                    if (
                        isinstance(item, ast.Assign)
                        and isinstance(item.value, ast.Name)
                        and item.value.id in methods
                    ):
                        found.append(f"{where}: method alias {item.value.id}")
    assert found == []


def _classes_of(tree: object) -> set[str]:
    import ast

    assert isinstance(tree, ast.Module)
    return {node.name for node in tree.body if isinstance(node, ast.ClassDef)}
