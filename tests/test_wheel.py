"""The wheel ships the TOML data of models/ and hardware/, and an installed wheel finds it.

Builds from a copy of the sources (so no build/ or egg-info lands in the checkout), installs
the wheel under a temporary prefix and loads every card from a fresh interpreter that cannot
see the checkout. Takes a few seconds.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _pip(*args: str, cwd: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "pip", *args], cwd=cwd, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = tmp_path_factory.mktemp("src")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in ("spikefa", "models", "hardware"):
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (ROOT / name).is_file():
            shutil.copy2(ROOT / name, src / name)
    out = tmp_path_factory.mktemp("dist")
    isolation = [] if importlib.util.find_spec("setuptools") is None else ["--no-build-isolation"]
    _pip("wheel", "--no-deps", *isolation, "-q", str(src), "-w", str(out), cwd=src)
    (built,) = out.glob("spikefa-*.whl")
    return built


def test_wheel_contains_every_card_and_profile(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    for kind in ("models", "hardware"):
        for path in (ROOT / kind).glob("*.toml"):
            expected = f"share/spikefa/{kind}/{path.name}"
            assert any(n.endswith(expected) and ".data/data/" in n for n in names), expected
    assert not any(n.startswith(("models/", "hardware/")) for n in names), "no top-level package"


def test_installed_wheel_finds_its_cards(wheel: Path, tmp_path: Path) -> None:
    prefix = tmp_path / "prefix"
    # --ignore-installed: without it pip uninstalls the developer's own (editable) spikefa first
    _pip("install", "--no-deps", "--no-compile", "--ignore-installed", "-q", "--prefix", str(prefix), str(wheel),
         cwd=tmp_path)
    site = sysconfig.get_path("purelib", vars={"base": str(prefix), "platbase": str(prefix)})
    script = (
        "import spikefa.catalog as c\n"
        "print(c.__file__)\n"
        "for name in c.list_cards():\n"
        "    print(name, c.find_card(name), c.load_card(name).arch)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPIKEFA_")}
    env["PYTHONPATH"] = site
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    module_file, *rows = result.stdout.splitlines()
    assert module_file.startswith(site)
    names = {row.split()[0] for row in rows}
    assert names == {p.stem for p in (ROOT / "models").glob("*.toml")}
    shipped = (prefix / "share" / "spikefa" / "models").resolve()
    assert all(Path(row.split()[1]).parent == shipped for row in rows), rows
