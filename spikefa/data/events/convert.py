"""Offline image -> event conversion with the N-MNIST tri-saccade geometry (a simulated DVS).

Orchard et al. (2015), Front. Neurosci. 9:437: the digit, shown on a screen, is viewed by an event
camera moved along three saccades of (+3.5, +7), (+3.5, -7), (-7, 0) pixels, ~105 ms each, the
28x28 image landing on a 34x34 sensor. Here the motion is simulated (sub-pixel shifts by bilinear
interpolation) and fed to a DVS pixel model (`spikefa.data.events.dvs`). The defaults are calibrated
so that converted MNIST digits match the real recording's statistics (`validate.validate_against`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from spikefa.data.events.dvs import (
    PROFILES,
    FlatEvents,
    PixelParams,
    pad_images,
    saccade_path,
    shift_bilinear,
    simulate_dvs,
)
from spikefa.data.events.nmnist import make_events, write_nmnist
from spikefa.data.record import DataRecord
from spikefa.errors import DataError
from spikefa.schemas.validate import one_of, require

NMNIST_SACCADES: tuple[tuple[float, float], ...] = ((3.5, 7.0), (3.5, -7.0), (-7.0, 0.0))


def image_generator(seed: int, index: int) -> torch.Generator:
    """A generator for image `index` under `seed`, independent of how images are batched."""
    state = np.random.SeedSequence([int(seed), int(index)]).generate_state(1, np.uint64)[0]
    return torch.Generator().manual_seed(int(state))


@dataclass(frozen=True)
class SaccadeConverter(DataRecord):
    """Settings of the image -> event conversion; `convert` is deterministic given the seed.

    sensor_hw: sensor (H, W). origin: image top-left on the sensor (x, y) at t = 0, in pixels.
    saccades: displacement (dx, dy) per saccade; saccade_us: duration of each; profile: position
    profile name in `dvs.PROFILES`. dt_us: simulation step. Pixel intensity is
    log(background + pixel) with pixels in [0, 1]; thresholds are drawn per pixel and polarity
    from N(threshold, threshold_std) clipped at min_threshold. refractory_us: dead time after an
    event; jitter_us: std of Gaussian timestamp noise; noise_hz: background events per pixel and
    polarity per second (uniform in space and time).

    Calibration (threshold and background chosen for the count; origin for the event centroids):
    over MNIST test images 0-199 the defaults give 4,336 events per recording (real sample: 4,325),
    duration 310.7 ms (310.5), ON fraction 0.51 (0.50), saccade shares 0.38 / 0.30 / 0.32
    (0.32 / 0.31 / 0.37); `validate.validate_against` states the tolerances.
    """

    LABEL: ClassVar[str] = "SaccadeConverter:"
    UNCHECKED: ClassVar[tuple[str, ...]] = ("saccades",)  # pairs may come as lists (JSON); checked in `check`

    sensor_hw: tuple[int, int] = (34, 34)
    origin: tuple[float, float] = (0.0, 0.0)
    saccades: tuple[tuple[float, float], ...] = NMNIST_SACCADES
    saccade_us: int = 105_000
    profile: str = "cosine"
    dt_us: int = 1000
    background: float = 0.1
    threshold: float = 0.5
    threshold_std: float = 0.05
    min_threshold: float = 0.05
    refractory_us: int | float = 1000
    jitter_us: float = 100.0
    noise_hz: float = 0.1

    def check(self) -> None:
        for key in ("saccade_us", "dt_us"):
            require(key, getattr(self, key), getattr(self, key) >= 1, "an integer >= 1")
        for key in ("background", "threshold", "min_threshold"):
            require(key, getattr(self, key), getattr(self, key) > 0, "a finite positive number")
        for key in ("threshold_std", "jitter_us", "noise_hz", "refractory_us"):
            require(key, getattr(self, key), getattr(self, key) >= 0, "a finite number >= 0")
        require("sensor_hw", self.sensor_hw, len(self.sensor_hw) == 2 and min(self.sensor_hw) >= 1,
                "two positive integers (H, W)")
        require("origin", self.origin, len(self.origin) == 2, "two finite numbers (x, y)")
        pairs = self.saccades
        ok = isinstance(pairs, tuple | list) and bool(pairs) and all(
            isinstance(s, tuple | list) and len(s) == 2 and all(_finite(v) for v in s) for s in pairs)
        require("saccades", pairs, ok, "a non-empty list of (dx, dy) pairs of finite numbers")
        require("profile", self.profile, self.profile in PROFILES, one_of(PROFILES))
        require("saccade_us", self.saccade_us, self.saccade_us % self.dt_us == 0,
                f"a multiple of dt_us = {self.dt_us}")

    @property
    def duration_us(self) -> int:
        """Length of one recording: all saccades back to back."""
        return self.saccade_us * len(self.saccades)

    def settings(self) -> dict[str, object]:
        """All settings as plain JSON-able values (for cache keys and run records)."""
        return {k: (list(map(list, v)) if k == "saccades" else v) for k, v in asdict(self).items()}

    def convert(self, images: torch.Tensor, seed: int = 0, first_index: int = 0) -> list[np.ndarray]:
        """Images [B, 1, H0, W0] or [B, H0, W0] in [0, 1] -> per image a structured array sorted by t.

        Image j draws its randomness from (seed, first_index + j): the result does not depend on
        how a dataset is cut into batches.
        """
        flat = self.convert_flat(images, seed, first_index)
        counts = torch.bincount(flat.b, minlength=_batch(images).shape[0]).tolist()
        columns = [c.numpy() for c in (flat.x, flat.y, flat.t, flat.p)]
        out, start = [], 0
        for n in counts:
            out.append(make_events(*(c[start : start + n] for c in columns)))
            start += n
        return out

    def convert_flat(self, images: torch.Tensor, seed: int = 0, first_index: int = 0) -> FlatEvents:
        """Like `convert`, as flat int64 tensors (b, x, y, t µs, p) sorted by (b, t)."""
        batch = _batch(images)
        if batch.shape[0] == 0:
            empty = torch.zeros(0, dtype=torch.int64)
            return FlatEvents(empty, empty, empty, empty, empty)
        gens = [image_generator(seed, first_index + j) for j in range(batch.shape[0])]
        params = self._pixel_params(gens)
        raw = self._simulate(batch, params)
        return self._finish(raw, gens)

    def write(
        self,
        images: torch.Tensor,
        folder: str | os.PathLike[str],
        labels: Sequence[int] | None = None,
        seed: int = 0,
        first_index: int = 0,
    ) -> list[Path]:
        """Convert and write one N-MNIST `.bin` per image: `folder/<label>/<index:05d>.bin`."""
        events = self.convert(images, seed, first_index)
        labels = [0] * len(events) if labels is None else list(labels)
        if len(labels) != len(events):
            raise DataError(f"SaccadeConverter.write: {len(labels)} labels for {len(events)} images")
        return [
            write_nmnist(Path(folder) / str(int(lab)) / f"{first_index + j:05d}.bin", ev)
            for j, (ev, lab) in enumerate(zip(events, labels, strict=True))
        ]

    def _pixel_params(self, gens: list[torch.Generator]) -> PixelParams:
        """Per-image, per-pixel ON / OFF thresholds [B, H, W], each image from its own generator."""
        shape = (2, *self.sensor_hw)
        draws = torch.stack([torch.randn(shape, generator=g, dtype=torch.float64) for g in gens])
        theta = (self.threshold + self.threshold_std * draws).clamp_min(self.min_threshold)
        return PixelParams(theta[:, 0].float(), theta[:, 1].float())

    def _simulate(self, batch: torch.Tensor, params: PixelParams) -> FlatEvents:
        """Move the images along the saccades and run the pixel model."""
        n_steps = self.duration_us // self.dt_us
        times = torch.arange(n_steps + 1, dtype=torch.float64) * self.dt_us
        path = saccade_path(times, self.saccades, self.saccade_us, self.profile, self.origin)
        pad = int(path.abs().max().ceil()) + max(self.sensor_hw) + 2
        padded = pad_images(batch, pad)

        def log_frame(k: int) -> torch.Tensor:
            view = shift_bilinear(padded, pad, (float(path[k, 0]), float(path[k, 1])), self.sensor_hw)
            return torch.log(view + self.background)

        return simulate_dvs(log_frame, n_steps, float(self.dt_us), params, float(self.refractory_us))

    def _finish(self, raw: FlatEvents, gens: list[torch.Generator]) -> FlatEvents:
        """Add timestamp jitter and background noise per image, round to µs, sort by (b, t)."""
        by_image = torch.sort(raw.b, stable=True).indices
        raw = FlatEvents(*(c[by_image] for c in raw))
        counts = torch.bincount(raw.b, minlength=len(gens)).tolist()
        parts, start = [], 0
        for j, (g, n) in enumerate(zip(gens, counts, strict=True)):
            t = raw.t[start : start + n] + self.jitter_us * torch.randn(n, generator=g, dtype=torch.float64)
            own = (raw.x[start : start + n], raw.y[start : start + n], t, raw.p[start : start + n])
            parts.append((j, *self._with_noise(own, g)))
            start += n
        b = torch.cat([torch.full_like(x, j) for j, x, *_ in parts])
        x, y, t, p = (torch.cat([part[i] for part in parts]) for i in range(1, 5))
        t = t.round().clamp(0, self.duration_us - 1).long()
        order = torch.sort(b * self.duration_us + t, stable=True).indices
        return FlatEvents(b[order], x[order], y[order], t[order], p[order])

    def _with_noise(
        self, own: tuple[torch.Tensor, ...], gen: torch.Generator
    ) -> tuple[torch.Tensor, ...]:
        """Append Poisson background events (uniform pixel, polarity and time) to one image's events."""
        height, width = self.sensor_hw
        mean = self.noise_hz * height * width * 2 * self.duration_us * 1e-6
        n = int(torch.poisson(torch.tensor([mean], dtype=torch.float64), generator=gen).item())
        x = torch.randint(width, (n,), generator=gen)
        y = torch.randint(height, (n,), generator=gen)
        p = torch.randint(2, (n,), generator=gen)
        t = torch.rand(n, generator=gen, dtype=torch.float64) * self.duration_us
        return tuple(torch.cat([a, b]) for a, b in zip(own, (x, y, t, p), strict=True))


def _batch(images: torch.Tensor) -> torch.Tensor:
    """[B, 1, H, W] or [B, H, W] float images in [0, 1] -> float32 [B, H, W]."""
    if not isinstance(images, torch.Tensor):
        images = torch.as_tensor(np.asarray(images))
    if images.ndim == 4 and images.shape[1] == 1:
        images = images[:, 0]
    if images.ndim != 3:
        raise DataError(f"SaccadeConverter: images must be [B, 1, H, W] or [B, H, W], got {list(images.shape)}")
    images = images.to(torch.float32)
    if images.numel() and (images.min() < 0 or images.max() > 1):
        raise DataError(
            f"SaccadeConverter: pixel values must lie in [0, 1], got [{images.min():g}, {images.max():g}]"
        )
    return images


def _finite(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
