"""The one list of artefact writers: name -> how to write it and how to hold it against its reference.

Each writer module has ``write(qnet, out_dir, meta) -> list[Path]`` and
``verify(qnet, out_dir, spikes) -> Verification``; they are imported only when used, so listing
the registry (the CLI, profile validation) needs none of the optional packages.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from spikefa.export.quantize import QuantizedNet


@dataclass(frozen=True)
class Verification:
    """An artefact run on test inputs against its reference: how many spikes disagree."""

    format: str
    reference: str
    mismatches: int
    total: int
    note: str = ""
    skipped: bool = False

    @property
    def ok(self) -> bool:
        """Verified and in agreement: a skipped verification (no compiler, no runtime) is not a pass."""
        return not self.skipped and self.mismatches == 0

    @property
    def failed(self) -> bool:
        """Run, and at least one spike disagrees with the reference."""
        return not self.skipped and self.mismatches > 0

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "ok": self.ok, "failed": self.failed}


def count_mismatches(a: torch.Tensor, b: torch.Tensor) -> int:
    """Spikes that differ between two [T, B, n] trains (shape mismatch: every spike)."""
    if a.shape != b.shape:
        return max(a.numel(), b.numel())
    return int((a.to(torch.int64) != b.to(torch.int64)).sum())


@dataclass(frozen=True)
class Exporter:
    """One artefact format: its module and what it is for."""

    name: str
    module: str
    description: str
    reference: str

    def write(self, qnet: QuantizedNet, out_dir: Path, meta: dict[str, Any] | None = None) -> list[Path]:
        return importlib.import_module(self.module).write(qnet, Path(out_dir), meta or {})  # type: ignore[no-any-return]

    def verify(self, qnet: QuantizedNet, out_dir: Path, spikes: torch.Tensor) -> Verification:
        return importlib.import_module(self.module).verify(qnet, Path(out_dir), spikes)  # type: ignore[no-any-return]


EXPORTERS: dict[str, Exporter] = {
    e.name: e
    for e in (
        Exporter("nir", "spikefa.export.nir_writer",
                 "NIR graph (Input, Affine, LIF/IF, Output) + JSON sidecar (dt, reset, integer scales)",
                 "spikefa's float simulation of the quantised network, through snnTorch's NIR importer"),
        Exporter("onnx", "spikefa.export.onnx_writer",
                 "ONNX, one time step with explicit int32 state inputs/outputs and int8 QDQ weights",
                 "the integer simulator, through onnxruntime"),
        Exporter("c", "spikefa.export.c_writer",
                 "C header + source: integer arrays, scales and a reference step function (+ a stdin runner)",
                 "the integer simulator, through the C compiler"),
    )
}
