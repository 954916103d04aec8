"""The project's packages resolve to this repository, not to another installed copy."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = [
    "datamodules", "encoders", "vocoders", "lightning_modules", "evaluation", "foleygan_cli"
]


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
