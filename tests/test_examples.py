"""Every numbered example runs with ``--fast`` and writes what it promises into ``--out``."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SCRIPTS = sorted(EXAMPLES.glob("[0-9][0-9]_*.py"))

# what each example leaves in --out (a new example must say what it writes)
OUTPUTS = {
    "01_convert_your_model.py": ["accuracies.json"],
    "02_alignment_angles.py": ["angles.csv"],
    "03_train_and_resume.py": [f"{run}/{name}" for run in ("uninterrupted", "interrupted")
                               for name in ("checkpoint.pt", "config.json", "metrics.csv", "summary.json")],
    "04_save_and_load_feedback.py": ["fa.pt", "dfa.pt"],
    "05_spiking_online_dfa.py": ["results.json"],
}


def test_every_example_is_listed() -> None:
    assert [p.name for p in SCRIPTS] == sorted(OUTPUTS)


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_example_runs_fast(script: Path, tmp_path: Path) -> None:
    doc = ast.get_docstring(ast.parse(script.read_text()))
    assert doc and f"python examples/{script.name}" in doc and "--fast" in doc, f"{script.name}: docstring"
    out = tmp_path / "out"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    proc = subprocess.run([sys.executable, str(script), "--fast", "--out", str(out)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, f"{script.name} exit {proc.returncode}:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    missing = [name for name in OUTPUTS[script.name] if not (out / name).is_file()]
    assert not missing, f"{script.name} did not write {missing} into --out"
    assert proc.stdout.strip(), f"{script.name} printed nothing"
    assert proc.stderr == "", f"{script.name} wrote to stderr (noise a user reads as trouble):\n{proc.stderr[-2000:]}"
    figures = [line for line in proc.stdout.splitlines() if "accuracy" in line or "°" in line]
    if figures:  # --fast figures are smoke-test numbers, and the example says so before printing them
        first = proc.stdout.index(figures[0])
        assert "--fast: a smoke test" in proc.stdout[:first], f"{script.name} prints --fast figures as results"
