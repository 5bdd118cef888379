"""Randomness a module draws itself, passed explicitly as generators seeded from the run seed: one
training stream continued across batches (saved with the model as extra state, so a resumed run
draws what an unbroken one would) and fixed streams that every evaluation redraws from the start."""

from __future__ import annotations

import hashlib
from typing import Any

import torch
from torch import nn

from spikefa.functional.feedback import derive_seed

TRAIN, EVAL = 1001, 1002  # the stream numbers derived from the seed (others: a module's own)


class SeededStreams(nn.Module):
    """Base of modules that draw spikes themselves (`EncodedSNN`, the STDP learners)."""

    def __init__(self, seed: int) -> None:
        super().__init__()
        self.seed = int(seed)
        self._gen: torch.Generator | None = None
        self._gen_state: torch.Tensor | None = None

    def train_generator(self, device: torch.device | str = "cpu") -> torch.Generator:
        """The training stream on `device` (restored from the saved state when one was loaded)."""
        if self._gen is None or self._gen.device != torch.device(device):
            self._gen = torch.Generator(device=device).manual_seed(derive_seed(self.seed, TRAIN))
            if self._gen_state is not None:
                self._gen.set_state(_state_for(self._gen, self._gen_state))
        return self._gen

    def fixed_generator(self, stream: int = EVAL, device: torch.device | str = "cpu") -> torch.Generator:
        """A fresh generator of a fixed stream: the same draws every time."""
        return torch.Generator(device=device).manual_seed(derive_seed(self.seed, stream))

    def get_extra_state(self) -> dict[str, Any]:
        state = self._gen.get_state() if self._gen is not None else self._gen_state
        return {"seed": self.seed, "generator": state}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        self.seed, self._gen_state, self._gen = int(state["seed"]), state["generator"], None


def _state_for(gen: torch.Generator, saved: torch.Tensor) -> torch.Tensor:
    """``saved`` when it is a state of ``gen``'s kind; else (a run saved on a GPU, whose Philox state
    is 16 bytes, resumed on a CPU, whose Mersenne Twister state is 5,056, or the other way round) a
    state of ``gen``'s kind seeded from the saved bytes: the resumed run draws a stream of its own,
    the same on every resume from that checkpoint, but not the one the other device would have drawn."""
    if saved.numel() == gen.get_state().numel():
        return saved
    digest = hashlib.blake2b(bytes(saved.to(torch.uint8).tolist()), digest_size=8).digest()
    return torch.Generator(device=gen.device).manual_seed(int.from_bytes(digest, "little") >> 1).get_state()
