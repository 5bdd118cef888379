"""Knowledge distillation from the float run a fine-tune starts from (`spikefa train --init-from RUN
--distill α`): the loss against an explicit formula, the teacher on the student's own spikes, and the
refusals."""

from __future__ import annotations

import copy
import csv
from pathlib import Path

import numpy as np
import pytest
import torch

from spikefa.cli import main
from spikefa.errors import ConfigError
from spikefa.runs.model import resolve_config
from spikefa.train.distill import distillation_loss
from tests.train.test_init_from import _card, _train


def test_the_loss_is_tau_squared_kl_of_the_softened_scores() -> None:
    gen = torch.Generator().manual_seed(0)
    z, zt = torch.randn(5, 4, generator=gen, dtype=torch.float64), torch.randn(5, 4, generator=gen, dtype=torch.float64)
    for tau in (1.0, 3.0):
        p = np.exp(z.numpy() / tau); p /= p.sum(1, keepdims=True)
        q = np.exp(zt.numpy() / tau); q /= q.sum(1, keepdims=True)
        expected = tau**2 * np.mean(np.sum(q * (np.log(q) - np.log(p)), axis=1))
        assert float(distillation_loss(z, zt, tau)) == pytest.approx(expected, rel=1e-12)
    assert float(distillation_loss(zt, zt, 2.0)) == pytest.approx(0.0, abs=1e-12)


def test_follow_hands_the_teacher_the_students_spike_stream(tmp_path: Path) -> None:
    from spikefa.runs.model import make_model
    from spikefa.train.distill import Teacher

    config = resolve_config(str(_card(tmp_path)), "bp", "digits", seed=3)
    student = make_model(config, (1, 8, 8), 10).train()
    teacher = Teacher(copy.deepcopy(student), 1.0, 1.0)
    teacher.net.set_extra_state({"seed": 99, "generator": None})  # another stream (as after a resume)
    x = torch.rand(4, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    student(x)  # the student's stream moves on
    with torch.no_grad():
        assert not torch.equal(teacher.net(x), student(x))
        teacher.follow(student)
        t = teacher.net(x)
        assert torch.equal(t, student(x))


def _loss(run: Path) -> float:
    with open(run / "metrics.csv") as f:
        return float(next(csv.DictReader(f))["train_loss"])


def test_the_teacher_sees_the_students_spikes(tmp_path: Path) -> None:
    """A student that is still its teacher (no QAT, an lr of 1e-12) has a distillation loss of 0 when
    both networks see the same spikes; on two rate-code draws of the same image it would not."""
    src = _train(tmp_path, "float")
    same = _train(tmp_path, "same", "--init-from", str(src), "--distill", "1", "--distill-temperature", "2",
                  "--lr", "1e-12", "--seed", "4")
    assert _loss(same) < 1e-9
    # the same fine-tune without distillation: a cross-entropy well above 0, so the 0 above is the KL term
    plain = _train(tmp_path, "plain", "--init-from", str(src), "--lr", "1e-12", "--seed", "4")
    assert _loss(plain) > 0.05
    qat = _train(tmp_path, "qat", "--init-from", str(src), "--distill", "1", "--qat", "int8-edge:4",
                 "--state-bits", "4", "--lr", "1e-12", "--seed", "4")
    assert _loss(qat) > 1e-6  # a 4-bit student differs from its float teacher


def test_distillation_needs_a_teacher_and_a_loss(tmp_path: Path) -> None:
    card = str(_card(tmp_path))
    with pytest.raises(ConfigError, match="distill"):
        resolve_config(card, "bp", "digits", distill=0.5)
    with pytest.raises(ConfigError, match="distill"):
        resolve_config(card, "bp", "digits", distill=1.5, init_from="x")
    src = _train(tmp_path, "float")
    base = ["train", "--model", card, "--dataset", "digits", "--epochs", "1", "--limit-train", "16", "--no-progress",
            "--align-every", "0"]
    assert main([*base, "--rule", "bp", "--distill", "0.5", "--out", str(tmp_path / "a")]) == 2
    assert main([*base, "--rule", "dfa", "--init-from", str(src), "--distill", "0.5", "--out", str(tmp_path / "b")]) == 2
    assert not (tmp_path / "b" / "checkpoint.pt").exists()


def test_distill_from_names_the_teacher_apart_from_the_start(tmp_path: Path) -> None:
    """--distill-from: the teacher is that run's float network, whatever the student starts from. A
    student started from the seed's draw, taught by a run of the same weights as --init-from's, has the
    loss 0 only when both are that run (an lr of 1e-12 keeps the student where it starts)."""
    src = _train(tmp_path, "float")
    other = _train(tmp_path, "other", "--seed", "9")
    same = _train(tmp_path, "same", "--init-from", str(src), "--distill-from", str(src), "--distill", "1",
                  "--lr", "1e-12", "--seed", "4")
    assert _loss(same) < 1e-9
    apart = _train(tmp_path, "apart", "--init-from", str(src), "--distill-from", str(other), "--distill", "1",
                   "--lr", "1e-12", "--seed", "4")
    assert _loss(apart) > 1e-4  # taught by another network than the one it starts as
    qat_src = _train(tmp_path, "qat-src", "--init-from", str(src), "--qat", "int8-edge:4", "--state-bits", "4")
    more = _train(tmp_path, "more", "--init-from", str(qat_src), "--distill-from", str(src), "--distill", "0.5",
                  "--qat", "int8-edge:4", "--state-bits", "4", "--lr", "1e-12")
    assert _loss(more) > 0  # a QAT run continued from a QAT run, taught by the float run both came from
    with pytest.raises(ConfigError, match="distill_from"):
        resolve_config(str(_card(tmp_path)), "bp", "digits", distill_from=str(src))  # without --distill
