"""Accuracy versus bits: the evaluation takes any simulator and (spikes, labels) batches; refused
targets are rows with the checker's reasons; the table, CSV and plot are written."""

from __future__ import annotations

import math
from pathlib import Path

import torch

from spikefa.export.sweep import accuracy, rate_batches, sweep, write_sweep
from spikefa.functional.encoders import make_encoder
from spikefa.nn.spiking import scores

from .nets import spikes, tiny_net


def _labelled(net: torch.nn.Module, n_batches: int = 3) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Batches labelled by the float network itself, so its accuracy is 1 by construction."""
    out = []
    for i in range(n_batches):
        x = spikes(10, 8, 20, rate=0.35, seed=10 + i)
        with torch.no_grad():
            y = scores(net(x.reshape(10, 8, 1, 4, 5))).argmax(1)
        out.append((x, y))
    return out


def test_sweep_rows_table_and_plot(tmp_path: Path) -> None:
    net = tiny_net(gain=4.0)
    batches = _labelled(net)
    rows = sweep(net, ["int8-edge", "xylo-audio2", "akida"], [8, 4, 2], batches)
    assert [(r.target, r.bits) for r in rows][:3] == [("int8-edge", 8), ("int8-edge", 4), ("int8-edge", 2)]
    assert all(r.float_accuracy == 1.0 for r in rows)
    edge = {r.bits: r for r in rows if r.target == "int8-edge"}
    # 24 samples of a 20-16-5 net: few output spikes, so ties (broken by membrane sums) are common
    assert edge[8].status == "ok" and edge[8].accuracy >= 0.75 and edge[8].accuracy >= edge[2].accuracy
    xylo = [r for r in rows if r.target == "xylo-audio2"]
    assert all(r.status.startswith("refused: network: 20 inputs > xylo-audio2's 16") and math.isnan(r.accuracy) for r in xylo)
    akida = {r.bits: r.status for r in rows if r.target == "akida"}
    assert "8-bit weights are not offered" in akida[8] and "neuron model 'lif'" in akida[4]
    paths = write_sweep(rows, tmp_path)
    assert [p.name for p in paths] == ["sweep.md", "sweep.csv", "sweep.json", "sweep.png"] and all(p.stat().st_size for p in paths)
    assert "| int8-edge | 8 |" in (tmp_path / "sweep.md").read_text()


def test_accuracy_and_rate_batches_are_repeatable() -> None:
    enc = make_encoder("rate", 6)
    x, y = torch.rand(10, 1, 4, 5), torch.arange(10) % 5
    make = rate_batches(x, y, enc, batch_size=4, seed=3)
    first, second = list(make()), list(make())
    assert len(first) == 3 and all(torch.equal(a[0], b[0]) for a, b in zip(first, second))
    assert first[0][0].shape == (6, 4, 1, 4, 5)
    assert accuracy(lambda s: torch.nn.functional.one_hot(torch.zeros(s.shape[1], dtype=torch.long), 5).float(),
                    first) == float((y == 0).double().mean())


def test_rate_batches_encode_the_same_spikes_whatever_the_batch_size() -> None:
    from spikefa.export.sweep import ENCODE_CHUNK

    enc = make_encoder("rate", 3)
    n = 2 * ENCODE_CHUNK + 37
    x, y = torch.rand(n, 1, 2, 2), torch.arange(n) % 7
    reference = list(rate_batches(x, y, enc, batch_size=ENCODE_CHUNK, seed=5)())
    whole = [torch.cat([s for s, _ in reference], dim=1), torch.cat([lab for _, lab in reference])]
    for size in (1, 50, ENCODE_CHUNK + 1, 4 * ENCODE_CHUNK):
        batches = list(rate_batches(x, y, enc, batch_size=size, seed=5)())
        assert all(s.shape[1] == lab.shape[0] <= size for s, lab in batches) and len(batches) == -(-n // size)
        assert torch.equal(torch.cat([s for s, _ in batches], dim=1), whole[0])
        assert torch.equal(torch.cat([lab for _, lab in batches]), whole[1]) and torch.equal(whole[1], y)
    first = enc(x[:ENCODE_CHUNK], torch.Generator().manual_seed(5))
    assert torch.equal(whole[0][:, :ENCODE_CHUNK], first)  # the default batch size draws as it always did
