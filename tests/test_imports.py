"""The project's packages resolve to this repository, and imports run one way between them.

Direction (ARCHITECTURE.md): `datamodules` <- `encoders`, `vocoders` <- `lightning_modules`
(may use encoders) and `evaluation` (may use encoders, vocoders) <- `foleygan_cli`, `bench`.
Every import statement counts: module level, inside functions, and `importlib.import_module`
/ `__import__` calls with a literal name.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = [
    "datamodules", "encoders", "vocoders", "lightning_modules", "evaluation", "foleygan_cli"
]
TOOLS = {"foleygan_cli", "bench"}
FORBIDDEN = {
    "datamodules": {"encoders", "vocoders", "lightning_modules", "evaluation"} | TOOLS,
    "encoders": {"lightning_modules", "evaluation"} | TOOLS,
    "vocoders": {"lightning_modules", "evaluation"} | TOOLS,
    "lightning_modules": {"evaluation"} | TOOLS,
    "evaluation": {"lightning_modules"} | TOOLS,
}


@pytest.mark.parametrize("name", PACKAGES)
def test_package_comes_from_the_repository(name: str) -> None:
    module = importlib.import_module(name)
    assert module.__file__ is not None, f"{name} is a namespace package: add {name}/__init__.py"
    location = Path(module.__file__).resolve()
    assert location == ROOT / name / "__init__.py", f"{name} imported from {location}, not {ROOT}"


def test_lightning_is_pytorch_lightning() -> None:
    import pytorch_lightning as pl

    from datamodules.datamodule import FoleyDataModule

    assert issubclass(FoleyDataModule, pl.LightningDataModule)


def imported_modules(source: str) -> list[tuple[int, str]]:
    """(line, dotted module name) of every absolute import in `source`, at any depth."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Call) and _is_dynamic_import(node.func) and node.args:
            arg = node.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                found.append((node.lineno, arg.value))
    return found


def _is_dynamic_import(func: ast.expr) -> bool:
    if isinstance(func, ast.Name):
        return func.id in ("__import__", "import_module")
    return isinstance(func, ast.Attribute) and func.attr == "import_module"


def backward_imports(package_dir: Path, forbidden: set[str]) -> list[str]:
    """'path:line imports name' for each import of a forbidden top-level package."""
    problems = []
    for path in sorted(package_dir.rglob("*.py")):
        for line, name in imported_modules(path.read_text(encoding="utf-8")):
            if name.split(".")[0] in forbidden:
                problems.append(f"{path.relative_to(package_dir.parent)}:{line} imports {name}")
    return problems


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_imports_run_one_way(package: str) -> None:
    problems = backward_imports(ROOT / package, FORBIDDEN[package])
    assert not problems, (
        f"{package} may not import {sorted(FORBIDDEN[package])} (ARCHITECTURE.md):\n"
        + "\n".join(problems)
    )


def test_checker_sees_function_level_and_dynamic_imports(tmp_path: Path) -> None:
    package = tmp_path / "evaluation"
    package.mkdir()
    (package / "ok.py").write_text("from encoders.probe import accuracies\nimport torch\n")
    (package / "bad.py").write_text(
        "import os\n\n\ndef f():\n    from lightning_modules.gan import FoleyGANModule\n"
        "    import lightning_modules.sagan as s\n"
        "    return importlib.import_module('lightning_modules.probe')\n"
        "from . import ok\n"
    )
    assert backward_imports(package, FORBIDDEN["evaluation"]) == [
        "evaluation/bad.py:5 imports lightning_modules.gan",
        "evaluation/bad.py:6 imports lightning_modules.sagan",
        "evaluation/bad.py:7 imports lightning_modules.probe",
    ]
