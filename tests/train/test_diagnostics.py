"""What a run reports besides accuracy (issue #16): how far stored feedback matrices moved and their
angle to the forward weights (checked against B₀ regenerated independently from the layer's seed and
a numpy angle), and a local layer's dead / duplicate units and features.png."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from spikefa.functional.feedback import get_kind, init_fixed
from spikefa.train import resolve_config, resume, train

FAST = dict(limit_train=96, batch_size=32, epochs=1)


def _run(tmp_path: Path, rule: str, **options: object) -> tuple[dict, dict, Path]:
    out = tmp_path / f"{rule}-{'-'.join(map(str, options.values())) or 'plain'}"
    config = resolve_config("mlp-1x800-tanh", rule, "digits", rule_options=options, **FAST)
    summary = train(config, out, progress=False)
    assert json.loads((out / "summary.json").read_text()) == summary
    return summary, torch.load(out / "checkpoint.pt", weights_only=False)["model"], out


def _np_angle(a: torch.Tensor, b: torch.Tensor) -> float:
    a64, b64 = a.double().numpy().ravel(), b.double().numpy().ravel()
    return math.degrees(math.acos(np.clip(a64 @ b64 / (np.linalg.norm(a64) * np.linalg.norm(b64)), -1, 1)))


def test_plastic_fa_feedback_moves_and_fixed_feedback_does_not(tmp_path: Path) -> None:
    plastic, state, out = _run(tmp_path, "fa", plastic="hebb", plastic_lr=0.01)
    fixed, _, _ = _run(tmp_path, "fa")
    for layer in ("layer0", "layer1"):
        assert plastic["feedback_motion"][layer]["moved"] > 0
        assert fixed["feedback_motion"][layer]["moved"] == 0.0
        assert fixed["feedback_motion"][layer]["angle_start"] == plastic["feedback_motion"][layer]["angle_start"]
    # independent formulation: B₀ regenerated from the layer's seed and scale, the angle by numpy
    prefix = "1."  # the hidden Linear of mlp-1x800-tanh (Flatten, Linear, Tanh, Linear)
    b_end, w_end = state[prefix + "feedback_fixed"], state[prefix + "weight"]
    b0 = init_fixed(get_kind("random"), tuple(b_end.shape), int(state[prefix + "feedback_seed"]), "gaussian",
                    float(state[prefix + "feedback_scale"]))
    motion = plastic["feedback_motion"]["layer0"]
    assert motion["moved"] == pytest.approx(float((b_end - b0).norm() / b0.norm()), rel=1e-5)
    assert motion["angle_end"] == pytest.approx(_np_angle(b_end, w_end), abs=1e-3)
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    assert float(rows[-1]["layer0.B_moved"]) == pytest.approx(motion["moved"], rel=1e-5)
    assert float(rows[-1]["layer0.B_angle"]) == pytest.approx(motion["angle_end"], abs=1e-3)


def test_plastic_dfa_feedback_moves_against_the_downstream_product(tmp_path: Path) -> None:
    plastic, state, _ = _run(tmp_path, "dfa", plastic="hebb", plastic_lr=0.01)
    fixed, _, _ = _run(tmp_path, "dfa")
    assert plastic["feedback_motion"]["layer0"]["moved"] > 0
    assert fixed["feedback_motion"]["layer0"]["moved"] == 0.0
    b_end, w_out = state["feedbacks.0.fixed"], state["blocks.1.0.weight"]  # one hidden layer: the product is W_out
    assert plastic["feedback_motion"]["layer0"]["angle_end"] == pytest.approx(_np_angle(b_end, w_out), abs=1e-3)


def test_feedback_motion_survives_a_resume(tmp_path: Path) -> None:
    config = resolve_config("mlp-1x800-tanh", "fa", "digits", rule_options={"plastic": "oja", "plastic_lr": 0.01},
                            **{**FAST, "epochs": 2})
    whole = train(config, tmp_path / "whole", progress=False)

    class Crash(Exception):
        pass

    def crash(row: dict) -> None:  # type: ignore[type-arg]
        raise Crash

    with pytest.raises(Crash):
        train(config, tmp_path / "crashed", progress=False, on_epoch=crash)
    resumed = resume(tmp_path / "crashed", progress=False)
    assert resumed["feedback_motion"] == whole["feedback_motion"]


def test_local_layer_features_and_unit_fractions_are_written(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    summary, state, out = _run(tmp_path, "hebb", unit_norm=True)
    assert (out / "features.png").is_file()
    stats = summary["features"]["blocks.0"]
    assert stats["units"] == 800 and 0.0 <= stats["dead"] <= 1.0 and 0.0 <= stats["duplicate"] <= 1.0
    _, _, fa_out = _run(tmp_path, "fa")
    assert not (fa_out / "features.png").exists()
