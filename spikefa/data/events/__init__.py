"""Event data: the N-MNIST file format, an image -> saccade-event converter, binning, datasets.

Binning: `events_to_frames` over a fixed window, `span_frames` over each sample's own span.

`load_event_dataset(name)` returns `EventSplits` (uint8 spike counts [N, T, C, H, W]; `batch` gives
time-major float32 [T, B, C, H, W]); `EVENT_DATASETS` lists the names. tonic is optional.
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
from spikefa.data.events.registry import (
    EVENT_DATASETS,
    EventDatasetSpec,
    get_event_dataset,
    load_event_dataset,
)
from spikefa.data.events.splits import EventSplits
from spikefa.data.events.validate import event_stats, validate_against

__all__ = [
    "EVENT_DATASETS",
    "EVENT_DTYPE",
    "NMNIST_SENSOR",
    "EventDatasetSpec",
    "EventSplits",
    "SaccadeConverter",
    "encode_nmnist",
    "event_stats",
    "events_to_frames",
    "get_event_dataset",
    "load_event_dataset",
    "make_events",
    "parse_nmnist",
    "read_nmnist",
    "span_frames",
    "validate_against",
    "write_nmnist",
]
