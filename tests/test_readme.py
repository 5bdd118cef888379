"""The README's Python example runs as written (on fake MNIST files written here), and its
statement of which rules take which feedback kinds matches the registry."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest
import torch

from spikefa.rules import FEEDBACK_KINDS, RULES
from tests.data.fakes import write_fake_mnist

README = Path(__file__).resolve().parents[1] / "README.md"


def section(title: str) -> str:
    text = README.read_text()
    return text.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def python_example() -> str:
    return section("Use it from Python").split("```python\n", 1)[1].split("```", 1)[0]


def test_readme_python_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code = python_example()
    assert "loader =" in code and "load_dataset(" in code  # the loader it loops over is made in the example
    write_fake_mnist(tmp_path / "mnist", n_train=10_000 + 128, n_test=32, gz=False)  # val = the last 10,000
    monkeypatch.setenv("SPIKEFA_DATA", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    torch.manual_seed(0)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {"__name__": "readme"})
    accuracy = float(out.getvalue().split("val accuracy", 1)[1])
    assert 0.0 <= accuracy <= 1.0


def test_readme_states_which_rules_take_which_feedback_kinds() -> None:
    text = " ".join(section("Use it from Python").split())
    takes_all = re.search(r"`fa` and `dfa` take any of (.*?);", text)
    assert takes_all and {k for k in FEEDBACK_KINDS if f"`{k}`" in takes_all.group(1)} == set(FEEDBACK_KINDS)
    none = re.search(r"; (`bp`.*?) take none", text)
    assert none
    for name, rule in RULES.items():
        if set(rule.feedbacks) == set(FEEDBACK_KINDS):
            assert name in ("fa", "dfa") and rule.default_feedback == "random"
        elif rule.feedbacks:
            assert f"`{name}` (sign symmetry) takes only its own kind, `{rule.feedbacks[0]}`" in text
            assert rule.feedbacks == (rule.default_feedback,)
        else:
            assert f"`{name}`" in none.group(1), f"README does not say that {name} takes no feedback"
    assert "# or \"dfa\", \"sign\", \"bp\"" not in python_example()


def test_readme_nir_snippet_reads_the_export_back_into_snntorch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The README names to_snntorch (not import_from_nir alone); its snippet gives spikefa's spikes."""
    pytest.importorskip("snntorch")
    pytest.importorskip("nir")
    from spikefa.export.quantize import quantize
    from spikefa.export.simulate import dequantize, run_float
    from spikefa.export.writers import EXPORTERS
    from tests.export.nets import profile, spikes, tiny_net

    text = " ".join(section("Spiking networks, STDP, event data, cross-checks, export").split())
    assert "dt = 1e-4 s" in text and "reset-to-zero" in text and "spikefa.export.nir_writer.to_snntorch" in text
    block = section("Spiking networks, STDP, event data, cross-checks, export").split("```python\n", 1)[1]
    code = "\n".join(line.removeprefix("  ") for line in block.split("```", 1)[0].splitlines())
    qnet = quantize(tiny_net((12, 9, 4), reset="subtract", gain=5.0), profile("loihi2"))
    EXPORTERS["nir"].write(qnet, tmp_path / "out")
    monkeypatch.chdir(tmp_path)
    x = spikes(15, 4, 12, rate=0.4)
    scope = {"spikes": x}
    exec(compile(code, "README.md", "exec"), scope)
    want = run_float(dequantize(qnet), x).out
    assert int(want.sum()) > 0 and torch.equal(scope["out_spikes"].to(want.dtype), want)
