"""The one list of artefact writers: name -> how to write it and how to hold it against its reference.

Each writer module has ``write(qnet, out_dir, meta) -> list[Path]`` and
``verify(qnet, out_dir, spikes) -> Verification``; they are imported only when used, so listing
the registry (the CLI, profile validation) needs none of the optional packages.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
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
    ties: int = 0  # disagreements at (or caused by) a membrane equal to its threshold, not counted as mismatches
    integer: dict[str, int] | None = None  # a float artefact against the integer simulator: {"ties", "other"}

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


def split_ties(got: Sequence[torch.Tensor], want: Sequence[torch.Tensor], mems: Sequence[torch.Tensor],
               thresholds: Sequence[torch.Tensor], rel_tol: float = 1e-4,
               observed: torch.Tensor | None = None) -> tuple[int, int]:
    """(real mismatches, tie disagreements) between every layer's spikes `got` and the reference
    `want` ([T, B, n_l] each), given the reference's membranes and per-neuron thresholds [n_l].

    A float graph and the integer simulator (or a float64 reference) may decide differently where
    the membrane equals the threshold (spikes need U > θ): float rounding puts U a hair above or
    below. Per sample, the earliest disagreement (by time step, then layer) decides: if the
    reference's membrane there is within `rel_tol`·max(1, |θ|) of θ, the sample's disagreements
    are counted as ties (what follows a tie diverges from it) when every neuron that disagrees there
    is at its threshold, otherwise as real mismatches.

    ``observed`` [T, B, n_last]: the last layer as a reader that shows no hidden layer computed it
    (snnTorch's importer). Then only its disagreements with ``want[-1]`` are counted, and a sample's
    are ties when ``observed`` equals ``got[-1]`` there (the two readers agree) and `got`'s earliest
    disagreement, seen in every layer, is at a tie: a hidden-layer tie shows at the output as a
    spike far from threshold."""
    if len(got) != len(want) or any(g.shape != w.shape for g, w in zip(got, want)):
        return sum(max(g.numel(), w.numel()) for g, w in zip(got, want)) or 1, 0
    if observed is not None and observed.shape != want[-1].shape:
        return max(observed.numel(), want[-1].numel()), 0
    real = ties = 0
    for b in range(want[0].shape[1]):
        first: tuple[int, int] | None = None
        count = 0
        for l, (g, w) in enumerate(zip(got, want)):
            diff = (g[:, b].to(torch.int64) != w[:, b].to(torch.int64))
            count += int(diff.sum())
            steps = diff.any(dim=1).nonzero()
            if steps.numel() and (first is None or (int(steps[0]), l) < first):
                first = (int(steps[0]), l)
        readers_agree = True
        if observed is not None:
            seen = observed[:, b].to(torch.int64)
            count = int((seen != want[-1][:, b].to(torch.int64)).sum())
            readers_agree = torch.equal(seen, got[-1][:, b].to(torch.int64))
        if count == 0:
            continue
        at_tie = False
        if first is not None and readers_agree:
            t, l = first
            where = (got[l][t, b].to(torch.int64) != want[l][t, b].to(torch.int64))
            u, theta = mems[l][t, b][where].double(), thresholds[l].double()[where]
            at_tie = bool(((u - theta).abs() <= rel_tol * theta.abs().clamp_min(1.0)).all())
        ties, real = (ties + count, real) if at_tie else (ties, real + count)
    return real, ties


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
                 "NIR graph (Input, Affine / Conv2d / SumPool2d / AvgPool2d / Flatten, LIF/IF, Output) + JSON "
                 "sidecar (dt, reset, integer scales, ties)",
                 "spikefa's float simulation of the quantised network, through snnTorch's NIR importer (dense) or "
                 "spikefa's reading of the graph (conv)"),
        Exporter("onnx", "spikefa.export.onnx_writer",
                 "ONNX, one time step with explicit int32 state inputs/outputs and int8 QDQ weights",
                 "the integer simulator, through onnxruntime"),
        Exporter("c", "spikefa.export.c_writer",
                 "C header + source: integer arrays, scales and a reference step function (+ a stdin runner)",
                 "the integer simulator, through the C compiler"),
    )
}
