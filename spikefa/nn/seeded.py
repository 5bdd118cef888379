"""Randomness a module draws itself, passed explicitly as generators seeded from the run seed: one
training stream continued across batches (saved with the model as extra state, so a resumed run
draws what an unbroken one would) and fixed streams that every evaluation redraws from the start."""

from __future__ import annotations

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
                self._gen.set_state(self._gen_state)
        return self._gen

    def fixed_generator(self, stream: int = EVAL, device: torch.device | str = "cpu") -> torch.Generator:
        """A fresh generator of a fixed stream: the same draws every time."""
        return torch.Generator(device=device).manual_seed(derive_seed(self.seed, stream))

    def get_extra_state(self) -> dict[str, Any]:
        state = self._gen.get_state() if self._gen is not None else self._gen_state
        return {"seed": self.seed, "generator": state}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        self.seed, self._gen_state, self._gen = int(state["seed"]), state["generator"], None
