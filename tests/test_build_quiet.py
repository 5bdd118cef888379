"""The build reads pyproject.toml without warnings: setuptools' own configuration step (what
`pip wheel .` runs first) is applied here and every warning it raises fails the test. The project
licence is an SPDX string (setuptools >= 77, required by [build-system]), not the deprecated table."""

from __future__ import annotations

import tomllib
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_pyproject_configures_setuptools_without_warnings(monkeypatch: pytest.MonkeyPatch) -> None:
    setuptools = pytest.importorskip("setuptools")
    from setuptools.config.pyprojecttoml import apply_configuration
    from setuptools.dist import Distribution

    if int(setuptools.__version__.split(".")[0]) < 77:
        pytest.skip(f"setuptools {setuptools.__version__} predates SPDX licence strings; the build requires >= 77")
    monkeypatch.chdir(ROOT)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dist = apply_configuration(Distribution(), ROOT / "pyproject.toml")
    assert [str(w.message).splitlines()[0] for w in caught] == []
    assert dist.metadata.license_expression == "MIT"


def test_build_system_requires_the_setuptools_that_reads_spdx() -> None:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert isinstance(data["project"]["license"], str)
    assert "setuptools>=77" in data["build-system"]["requires"]
