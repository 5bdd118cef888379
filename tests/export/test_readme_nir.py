"""The README's NIR snippet: to_snntorch with the sidecar (not snnTorch's import_from_nir alone)
reads an export back into snnTorch with spikefa's spikes."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from spikefa.export.quantize import quantize
from spikefa.export.simulate import dequantize, run_float
from spikefa.export.writers import EXPORTERS

from .nets import profile, spikes, tiny_net

README = Path(__file__).resolve().parents[2] / "README.md"
SECTION = "Spiking networks, STDP, event data, cross-checks, export"


def section(title: str) -> str:
    return README.read_text().split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def test_readme_nir_snippet_reads_the_export_back_into_snntorch(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The README names to_snntorch (not import_from_nir alone); its snippet gives spikefa's spikes."""
    pytest.importorskip("snntorch")
    pytest.importorskip("nir")
    text = " ".join(section(SECTION).split())
    assert "dt = 1e-4 s" in text and "reset-to-zero" in text and "spikefa.export.nir_writer.to_snntorch" in text
    block = section(SECTION).split("```python\n", 1)[1]
    code = "\n".join(line.removeprefix("  ") for line in block.split("```", 1)[0].splitlines())
    qnet = quantize(tiny_net((12, 9, 4), reset="subtract", gain=5.0), profile("loihi2"))
    EXPORTERS["nir"].write(qnet, tmp_path / "out")
    monkeypatch.chdir(tmp_path)
    x = spikes(15, 4, 12, rate=0.4)
    scope = {"spikes": x}
    exec(compile(code, "README.md", "exec"), scope)
    want = run_float(dequantize(qnet), x).out
    assert int(want.sum()) > 0 and torch.equal(scope["out_spikes"].to(want.dtype), want)
