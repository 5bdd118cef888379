"""One registry of event datasets (name -> loader, description), read by the CLI, docs and tests."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from spikefa.data.events.convert import SaccadeConverter
from spikefa.data.events.folder import load_nmnist_folder
from spikefa.data.events.request import EventRequest
from spikefa.data.events.splits import EventSplits
from spikefa.data.events.synth import load_nmnist_synth
from spikefa.data.events.tonic_data import TONIC_SPECS, load_tonic
from spikefa.errors import DataError

EventLoader = Callable[[EventRequest], EventSplits]


@dataclass(frozen=True)
class EventDatasetSpec:
    """An event dataset: `loader(request)`, a one-line description, and whether it needs tonic."""

    name: str
    loader: EventLoader
    description: str
    needs_tonic: bool = False

    def __post_init__(self) -> None:
        if not self.name or self.name != self.name.strip().lower():
            raise DataError(f"EventDatasetSpec: name {self.name!r} must be a non-empty lower-case word")
        if not callable(self.loader):
            raise DataError(f"EventDatasetSpec {self.name}: loader {self.loader!r} is not callable")


_TONIC_TEXT = {
    "tonic-nmnist": "N-MNIST read through tonic (34x34x2); 50,000 / 10,000 / 10,000",
    "dvsgesture": "IBM DVS Gesture via tonic (128x128x2, 11 classes); 977 / 100 / 264",
    "shd": "Spiking Heidelberg Digits via tonic (700 channels, 20 classes); 7,156 / 1,000 / 2,264",
    "pokerdvs": "POKER-DVS via tonic (35x35x2, 4 card suits); 40 / 8 / 20",
}

EVENT_DATASETS: dict[str, EventDatasetSpec] = {
    spec.name: spec
    for spec in (
        EventDatasetSpec(
            "nmnist-synth", load_nmnist_synth,
            "MNIST converted offline to N-MNIST-like saccade events (34x34x2); 50,000 / 10,000 / 10,000",
        ),
        EventDatasetSpec(
            "nmnist", load_nmnist_folder,
            "real N-MNIST from Train/<digit>/*.bin, Test/<digit>/*.bin (34x34x2); 50,000 / 10,000 / 10,000",
        ),
        *(
            EventDatasetSpec(name, partial(load_tonic, spec), _TONIC_TEXT[name], needs_tonic=True)
            for name, spec in TONIC_SPECS.items()
        ),
    )
}  # fmt: skip


def get_event_dataset(name: str) -> EventDatasetSpec:
    """The registered spec for `name`; an unknown name raises DataError listing the known ones."""
    try:
        return EVENT_DATASETS[name]
    except (KeyError, TypeError):
        raise DataError(
            f"unknown event dataset {name!r}; known event datasets: {', '.join(EVENT_DATASETS)}"
        ) from None


def load_event_dataset(
    name: str,
    data_dir: str | os.PathLike[str] | None = None,
    time_steps: int = 25,
    val_size: int | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    limit: int | None = None,
    progress: bool = False,
    *,
    seed: int = 0,
    converter: SaccadeConverter | None = None,
) -> EventSplits:
    """Load event dataset `name` binned into `time_steps` frames, train / val / test, cached on disk.

    data_dir: as for `spikefa.data.load_dataset` (`nmnist-synth` reads the MNIST folder). cache_dir:
    default `$SPIKEFA_CACHE`, else `<user cache>/spikefa/events`. limit: at most that many samples
    per split. seed, converter: conversion settings of `nmnist-synth` (ignored by the others).
    """
    spec = get_event_dataset(name)
    request = EventRequest(data_dir, time_steps, val_size, cache_dir, limit, progress, seed, converter)
    return spec.loader(request)
