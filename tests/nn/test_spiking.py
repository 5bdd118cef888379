"""The spiking network shell (spikefa/nn/spiking.py): the read-out ranks by spike count, then
membrane."""

from __future__ import annotations

import torch

from spikefa.nn.spiking import SpikeRecord, scores


def test_scores_rank_by_spike_count_then_membrane() -> None:
    spikes = torch.tensor([[[1.0, 1.0, 0.0]], [[0.0, 1.0, 0.0]]])
    mem = torch.tensor([[[0.0, -5.0, 9.0]], [[0.0, -5.0, 9.0]]])
    assert scores(SpikeRecord(spikes, mem)).argmax(1).item() == 1  # 2 spikes beats 1, whatever the membrane
    spikes[1, 0, 0] = 1.0
    assert scores(SpikeRecord(spikes, mem)).argmax(1).item() == 0  # tie on 2 spikes: higher membrane
