"""Converted MNIST digits against the real N-MNIST recording: defaults pass, a bad setting fails."""

from __future__ import annotations

import numpy as np
import pytest

from spikefa.data.events import SaccadeConverter, event_stats, make_events, read_nmnist, validate_against

from .fakes import REAL_MNIST, REAL_SAMPLE

needs_real = pytest.mark.skipif(
    not (REAL_SAMPLE.is_file() and REAL_MNIST.is_dir()), reason="real MNIST / N-MNIST sample not present"
)


@pytest.fixture(scope="module")
def digits() -> object:
    from spikefa.data import load_dataset

    return load_dataset("mnist", REAL_MNIST).x_test[:20]


def test_event_stats_on_known_events() -> None:
    t = np.array([1_000, 2_000, 150_000, 400_000])
    ev = make_events(np.zeros(4, int), np.zeros(4, int), t, np.array([1, 0, 1, 1]))
    stats = event_stats(ev)
    assert stats["count"] == 4 and stats["duration_us"] == 399_000 and stats["on_fraction"] == 0.75
    assert (stats["saccade_0"], stats["saccade_1"], stats["saccade_2"]) == (0.5, 0.25, 0.25)


@needs_real
def test_defaults_match_real_recording(digits: object) -> None:
    real = read_nmnist(REAL_SAMPLE)
    report = validate_against(real, SaccadeConverter().convert(digits, seed=0))
    failed = {k: v for k, v in report.items() if isinstance(v, dict) and not v["pass"]}
    assert report["pass"], failed
    assert abs(report["count"]["synth"] / 4325 - 1) < 0.35


@needs_real
def test_five_times_the_threshold_fails_on_count(digits: object) -> None:
    real = read_nmnist(REAL_SAMPLE)
    report = validate_against(real, SaccadeConverter(threshold=2.5).convert(digits, seed=0))
    assert not report["pass"] and not report["count"]["pass"]
    assert report["count"]["synth"] < 0.2 * report["count"]["real"]
