"""What a run learned besides its accuracy, written into metrics.csv, summary.json and the run
directory:

- stored feedback matrices (FA / DFA with ``random`` or ``binary`` B, plastic or fixed): how far B
  moved, ‖B − B₀‖/‖B₀‖, and its angle to the forward weights (FA: W; DFA: the downstream product
  W_L ⋯ W_{l+1}) at the start and after every epoch; a fixed B moves exactly 0;
- local (Hebbian, or frozen-control) layers of a model that exposes ``local_features(x)``
  (`spikefa.nn.local.LocalSequential`): the fractions of dead and duplicate units on a probe of the
  training data, and the first layer's receptive fields as ``features.png``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
from torch import nn

from spikefa.functional.metrics import angle_degrees, relative_change, unit_fractions
from spikefa.nn.plastic import stored_feedbacks

PROBE = 1000
"""Training examples the unit statistics are measured on (learning off)."""


def _angle(b: torch.Tensor, ref: torch.Tensor | None) -> float | None:
    return None if ref is None or ref.shape != b.shape else round(angle_degrees(b, ref), 3)


def feedback_start(model: nn.Module) -> dict[str, dict[str, Any]]:
    """Each stored B before training, with its angle to the forward weights (kept in the checkpoint,
    so a resumed run reports the motion from the true start)."""
    return {name: {"B": b, "angle": _angle(b, ref)} for name, (b, ref) in stored_feedbacks(model).items()}


def feedback_row(model: nn.Module, start: dict[str, dict[str, Any]] | None) -> dict[str, float]:
    """``<layer>.B_moved`` (‖B − B₀‖/‖B₀‖) and ``<layer>.B_angle`` (degrees) for the metrics row."""
    row: dict[str, float] = {}
    for name, (b, ref) in stored_feedbacks(model).items():
        if start and name in start:
            row[f"{name}.B_moved"] = round(relative_change(start[name]["B"], b), 6)
        angle = _angle(b, ref)
        if angle is not None:
            row[f"{name}.B_angle"] = angle
    return row


def feedback_summary(model: nn.Module, start: dict[str, dict[str, Any]] | None) -> dict[str, dict[str, Any]]:
    """Per layer: ``moved`` (‖ΔB‖/‖B₀‖), ``angle_start`` and ``angle_end`` (degrees, None where B and
    its counterpart differ in shape) for summary.json."""
    out = {}
    for name, (b, ref) in stored_feedbacks(model).items():
        first = (start or {}).get(name)
        out[name] = {"moved": None if first is None else relative_change(first["B"], b),
                     "angle_start": None if first is None else first["angle"], "angle_end": _angle(b, ref)}
    return out


def feature_diagnostics(model: nn.Module, x_train: torch.Tensor, input_shape: tuple[int, ...],
                        out: Path | None, title: str = "") -> dict[str, dict[str, float]]:
    """Dead / duplicate fractions of each local layer on the first `PROBE` training examples, and
    ``features.png`` (the first layer that reads the image: its units' weights as images) in ``out``;
    empty for a model without local layers."""
    probe = getattr(model, "local_features", None)
    if probe is None:
        return {}
    was = model.training
    model.eval()
    try:
        layers = probe(x_train[:PROBE])
    finally:
        model.train(was)
    stats = {name: unit_fractions(w, r) for name, w, r in layers}
    fields = ((n, w, _field(w, input_shape)) for n, w, _ in layers)
    first = next((f for f in fields if f[2] is not None), None)
    if out is not None and first is not None:
        from spikefa.train.plots import plot_features

        name, w, shape = first
        plot_features(out / "features.png", w.reshape(w.shape[0], -1), shape, f"{title} · {name} receptive fields",
                      stats[name])
    return stats


def _field(weight: torch.Tensor, input_shape: tuple[int, ...]) -> tuple[int, ...] | None:
    """The image shape of a unit's receptive field when the layer reads the input image: the image's
    for a dense layer over all of it, (C, kh, kw) for a convolution over its channels; else None."""
    if weight.ndim == 2 and weight.shape[1] == math.prod(input_shape):
        return tuple(input_shape)
    if weight.ndim == 4 and len(input_shape) == 3 and weight.shape[1] == input_shape[0]:
        return tuple(weight.shape[1:])
    return None
