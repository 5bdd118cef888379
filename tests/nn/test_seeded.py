"""The training spike stream a module saves: continued exactly on the same kind of device, and still
continued (deterministically, from the saved bytes) where a run moves between a GPU and a CPU."""

from __future__ import annotations

import pytest
import torch

from spikefa.nn.seeded import SeededStreams


def _draws(module: SeededStreams, n: int = 6) -> torch.Tensor:
    return torch.rand(n, generator=module.train_generator("cpu"))


def test_a_saved_cpu_stream_continues_where_it_stopped() -> None:
    a = SeededStreams(3)
    first = _draws(a)
    state = a.get_extra_state()
    rest = _draws(a)
    b = SeededStreams(0)
    b.set_extra_state(state)
    assert not torch.equal(first, rest) and torch.equal(_draws(b), rest)


def test_a_cuda_philox_state_resumes_on_a_cpu_as_its_own_fixed_stream() -> None:
    philox = torch.arange(16, dtype=torch.uint8)  # a CUDA generator's state: seed and offset, 16 bytes
    with pytest.raises(RuntimeError, match="size"):  # what a resume on a CPU used to hit
        torch.Generator().set_state(philox)
    draws = []
    for _ in range(2):
        m = SeededStreams(3)
        m.set_extra_state({"seed": 3, "generator": philox})
        draws.append(_draws(m))
    other = SeededStreams(3)
    other.set_extra_state({"seed": 3, "generator": philox.flip(0)})
    assert torch.equal(draws[0], draws[1])  # every resume from that checkpoint draws the same,
    # in every process too (the seed comes from blake2b of the saved bytes, not from Python's hash())
    assert draws[0][:3].tolist() == pytest.approx([0.722891092300415, 0.32460397481918335, 0.3948436379432678])
    assert not torch.equal(draws[0], _draws(other))  # and the stream follows the saved state
    assert not torch.equal(draws[0], _draws(SeededStreams(3)))  # not the run's start over again
