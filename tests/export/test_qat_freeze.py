"""QAT's iterative weight freezing (Nagel et al. 2022, `spikefa.export.qat.OscillationFreeze`) against
a per-weight reference written out step by step, its pinning of frozen weights in a fake-quantized
layer, a run with ``--qat-freeze``, and more QAT started from a QAT run (``--init-from``)."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from spikefa.catalog import find_card
from spikefa.cli import main
from spikefa.errors import SpikefaError
from spikefa.export.network import spiking_core
from spikefa.export.qat import FakeQuantWeight, OscillationFreeze, _Grid, qat_transform_for
from spikefa.nn.snntorch_net import surrogate_of
from spikefa.runs.model import init_weights, load_run, make_model, resolve_config
from spikefa.schemas.run import RunConfig

from .nets import profile


def _reference(ints: list[list[float]], threshold: float, momentum: float) -> tuple[list[float], list[bool], list[float]]:
    """Frequencies, frozen flags and frozen values after the integer sequences (one list per weight),
    scalar by scalar: o_t = 1 when the integer moves against its last move; f = m·o + (1 − m)·f;
    a weight freezes at round(its EMA integer before this step) once f > threshold."""
    freqs, frozen, values = [], [], []
    for seq in ints:
        f, last_dir, ema, is_frozen, value = 0.0, 0.0, seq[0], False, 0.0
        for prev, x in zip(seq, seq[1:]):
            d = (x > prev) - (x < prev)
            f = momentum * float(d * last_dir < 0) + (1 - momentum) * f
            if d:
                last_dir = d
            if f > threshold and not is_frozen:
                is_frozen, value = True, float(round(ema))
            ema = momentum * x + (1 - momentum) * ema
        freqs.append(f)
        frozen.append(is_frozen)
        values.append(value)
    return freqs, frozen, values


def test_oscillation_frequency_and_freezing_match_the_step_by_step_reference() -> None:
    gen = torch.Generator().manual_seed(0)
    steps, n = 40, 12
    walk = torch.randint(-1, 2, (steps, n), generator=gen).float().cumsum(0)  # random ±1 / 0 moves
    walk[:, 0] = torch.tensor([0.0, 1.0] * (steps // 2))  # one weight flips every step
    walk[:, 1] = 3.0  # one never moves
    tracker = OscillationFreeze(torch.Size([n]), start=0.15, final=0.15, momentum=0.1)
    for x in walk:
        tracker.observe(x)
    freqs, frozen, values = _reference(walk.t().tolist(), 0.15, 0.1)
    assert torch.allclose(tracker.frequency, torch.tensor(freqs), atol=1e-6)
    assert tracker.frozen.tolist() == frozen
    assert torch.equal(tracker.frozen_int[tracker.frozen], torch.tensor(values)[torch.tensor(frozen)])
    assert frozen[0] and not frozen[1] and 0 < sum(frozen) < n  # the test can tell freezing from none


def test_the_threshold_follows_a_cosine_from_start_to_final() -> None:
    tracker = OscillationFreeze(torch.Size([3]), start=0.1, final=0.01)
    for t, want in ((0.0, 0.1), (0.5, 0.055), (1.0, 0.01), (2.0, 0.01)):
        tracker.set_training_progress(t)
        assert math.isclose(tracker.threshold, want, rel_tol=1e-12)


def test_a_frozen_weight_is_pinned_to_its_grid_point_and_stays_there() -> None:
    layer = nn.Linear(4, 3, bias=False)
    with torch.no_grad():
        layer.weight.zero_()
        layer.weight[:, 3] = 0.5  # each row's largest weight, which sets its grid: fixed
    prof = profile("int8-edge").with_state_bits(4)
    grid = _Grid(prof, lambda: 1.0)
    tracker = OscillationFreeze(layer.weight.shape, start=1e-3, final=1e-3)
    parametrize.register_parametrization(layer, "weight", FakeQuantWeight(grid, tracker))
    master = layer.parametrizations.weight.original
    steps = grid.steps(master)[0]
    step = float(steps[0])
    for k in range(4):  # weight [0, 0] goes 0 → 1 → 0 → 1 units: it oscillates and freezes
        with torch.no_grad():
            master[0, 0] = step * (k % 2)
            master[1, 1] = step * k  # a steady climb: no oscillation
        layer.weight.sum().backward()  # a training forward, once per "optimiser step"
        assert torch.equal(grid.steps(master)[0], steps)
    assert bool(tracker.frozen[0, 0]) and not bool(tracker.frozen[1, 1])
    frozen_value = float(tracker.frozen_int[0, 0])
    with torch.no_grad():
        master[0, 0] = 5.0 * step  # the optimiser moves it on...
    out = layer.weight  # ...the next training forward pins it back
    assert float(master[0, 0].detach()) == pytest.approx(frozen_value * step)
    assert float(out[0, 0]) == pytest.approx(frozen_value * step)
    layer.eval()
    with torch.no_grad():
        master[0, 0] = -3.0 * step
        assert float(layer.weight[0, 0]) == pytest.approx(frozen_value * step)  # eval reads the frozen value


def _card(tmp: Path) -> Path:
    text = find_card("snn-1x800-lif").read_text().replace("hidden = [800]", "hidden = [16]")
    text = text.replace('name = "snn-1x800-lif"', 'name = "snn-tiny"').replace("time_steps = 25", "time_steps = 6")
    path = tmp / "snn-tiny.toml"
    path.write_text(text)
    return path


def _train(tmp: Path, out: str, *extra: str) -> Path:
    run = tmp / out
    assert main(["train", "--model", str(_card(tmp)), "--rule", "bp", "--dataset", "digits", "--epochs", "2",
                 "--limit-train", "160", "--batch-size", "16", "--align-every", "0", "--no-progress",
                 "--out", str(run), *extra]) == 0
    return run


def _trackers(run: Path) -> list[tuple[nn.Module, OscillationFreeze]]:
    net = spiking_core(load_run(run, qat_transform_for).model)
    return [(m, m.parametrizations.weight[0].freeze) for m in net.modules() if isinstance(m, nn.Linear)]


def test_a_run_with_qat_freeze_records_what_froze_and_exports_the_frozen_values(tmp_path: Path) -> None:
    run = _train(tmp_path, "freeze", "--qat", "int8-edge:4", "--state-bits", "4", "--lr", "0.05",
                 "--qat-freeze", "0.002:0.001")
    stored = json.loads((run / "config.json").read_text())
    assert (stored["qat_freeze"], stored["qat_freeze_final"]) == (0.002, 0.001)
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    assert all("qat_frozen" in r for r in rows)
    layers = _trackers(run)
    frozen = sum(int(t.frozen.sum()) for _, t in layers)
    assert frozen > 0 and float(rows[-1]["qat_frozen"]) == pytest.approx(
        frozen / sum(t.frozen.numel() for _, t in layers), abs=1e-5)
    for layer, tracker in layers:  # what export reads: the frozen integers, whatever the master weight did
        step = layer.parametrizations.weight[0].grid.steps(layer.parametrizations.weight.original)[0]
        ints = (layer.weight.detach() / step[:, None]).round()
        assert torch.equal(ints[tracker.frozen], tracker.frozen_int[tracker.frozen])


def test_more_qat_from_a_qat_run_starts_where_it_ended(tmp_path: Path) -> None:
    src = _train(tmp_path, "qat", "--qat", "int8-edge:4", "--state-bits", "4")
    run = _train(tmp_path, "more", "--qat", "int8-edge:4", "--state-bits", "4", "--init-from", str(src),
                 "--lr", "1e-12", "--seed", "7", "--qat-freeze", "0.1:0.01")
    before = spiking_core(load_run(src, qat_transform_for).model)
    after = spiking_core(load_run(run, qat_transform_for).model)
    linears = [[m for m in net.modules() if isinstance(m, nn.Linear)] for net in (before, after)]
    for a, b in zip(*linears):
        assert torch.allclose(a.weight, b.weight)  # the same integers (an lr of 1e-12 moves nothing)
    for a, b in zip(before.neurons, after.neurons):
        assert float(a.threshold) == float(b.threshold)  # the source's θ_l, not one placed anew
    # the training network's surrogate has the source run's width relative to its θ
    config = RunConfig.from_dict(json.loads((run / "config.json").read_text()))
    trained = spiking_core(make_model(
        config, (1, 8, 8), 10, qat_transform_for(config), init_weights(config)))
    source_config = RunConfig.from_dict(json.loads((src / "config.json").read_text()))
    original = spiking_core(make_model(
        source_config, (1, 8, 8), 10, qat_transform_for(source_config)))  # as the source trained
    for a, b in zip(trained.neurons, original.neurons):
        assert surrogate_of(a, "").keywords == pytest.approx(surrogate_of(b, "").keywords)


def test_qat_freeze_is_refused_without_qat_and_outside_0_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    card = str(_card(tmp_path))
    with pytest.raises(SpikefaError, match="qat_freeze"):
        resolve_config(card, "bp", "digits", qat_freeze=0.1)
    with pytest.raises(SpikefaError, match="qat_freeze"):
        resolve_config(card, "bp", "digits", qat="int8-edge", qat_freeze=1.5)
    with pytest.raises(SystemExit) as exc:
        main(["train", "--model", card, "--rule", "bp", "--dataset", "digits", "--qat", "int8-edge",
              "--qat-freeze", "lots", "--out", str(tmp_path / "x")])
    assert exc.value.code == 2 and "--qat-freeze: 'lots' is not F or F0:F1" in capsys.readouterr().err
