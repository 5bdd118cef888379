"""Event data: the N-MNIST file format, an image -> saccade-event converter, binning, datasets.

Binning: `events_to_frames` over a fixed window, `span_frames` over each sample's own span.

The event datasets are in the one registry, `spikefa.data.DATASETS` (kind ``events``):
`spikefa.data.load_dataset(name, time_steps=T)` returns `Splits` of uint8 spike counts
[N, T, C, H, W] whose `batch` gives time-major float32 [T, B, C, H, W]. tonic is optional.
"""

from __future__ import annotations

from spikefa.data.events.convert import SaccadeConverter
from spikefa.data.events.frames import events_to_frames, span_frames
from spikefa.data.events.nmnist import (
    EVENT_DTYPE,
    NMNIST_SENSOR,
    encode_nmnist,
    make_events,
    parse_nmnist,
    read_nmnist,
    write_nmnist,
)
from spikefa.data.events.validate import event_stats, validate_against

__all__ = [
    "EVENT_DTYPE",
    "NMNIST_SENSOR",
    "SaccadeConverter",
    "encode_nmnist",
    "event_stats",
    "events_to_frames",
    "make_events",
    "parse_nmnist",
    "read_nmnist",
    "span_frames",
    "validate_against",
    "write_nmnist",
]
