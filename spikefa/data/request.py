"""What a caller asks of a dataset (`load_dataset`'s arguments) as one validated record.

Event datasets are binned into `time_steps` frames (required) and cached; `cache_dir`, `limit`,
`progress`, `seed` and `converter` are theirs too. An image dataset refuses those options by name.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields

from spikefa.data.events.convert import SaccadeConverter
from spikefa.data.record import DataRecord
from spikefa.schemas.validate import require
from spikefa.schemas.vocab import DataKind

EVENT_OPTIONS = ("time_steps", "cache_dir", "limit", "progress", "seed", "converter")


@dataclass(frozen=True)
class DataRequest(DataRecord):
    """Dataset `name` of `kind`: where its files are (`data_dir`, see `resolve_data_dir`), how many
    training examples to hold out (`val_size`, None: the dataset's default) and, for events, how to
    bin (`time_steps`), where to cache (`cache_dir`), at most how many samples per split to keep
    (`limit`: quick runs, tests), whether to show progress, and the randomness and settings of the
    image -> event conversion (`seed`, `converter`: `nmnist-synth` only)."""

    name: str
    kind: DataKind
    data_dir: str | os.PathLike[str] | None = None
    val_size: int | None = None
    time_steps: int | None = None
    cache_dir: str | os.PathLike[str] | None = None
    limit: int | None = None
    progress: bool = False
    seed: int = 0
    converter: SaccadeConverter | None = None

    def where(self) -> str:
        return f"load_dataset({self.name!r}):"

    def check(self) -> None:
        require("val_size", self.val_size, self.val_size is None or self.val_size >= 0, "an integer >= 0")
        require("limit", self.limit, self.limit is None or self.limit >= 1, "an integer >= 1")
        require("seed", self.seed, self.seed >= 0, "an integer >= 0")
        require("converter", self.converter, self.converter is None or isinstance(self.converter, SaccadeConverter),
                "a SaccadeConverter")
        if self.kind == "events":
            steps = self.time_steps
            require("time_steps", steps, steps is not None and steps >= 1,
                    f"an integer >= 1: {self.name!r} holds events, binned into time_steps frames")
            return
        defaults = {f.name: f.default for f in fields(self)}
        for key in EVENT_OPTIONS:
            require(key, getattr(self, key), getattr(self, key) == defaults[key],
                    f"no value: {self.name!r} holds images; {', '.join(EVENT_OPTIONS)} are options of "
                    "event datasets")

    def pick(self, n: int) -> int:
        """How many of `n` samples to keep under `limit`."""
        return n if self.limit is None else min(n, self.limit)
