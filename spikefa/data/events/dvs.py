"""Pure tensor functions of the saccade-to-DVS simulation: camera path, sub-pixel shift, pixel model.

The pixel model is the standard DVS contrast detector (Lichtsteiner, Posch & Delbruck 2008, IEEE
JSSC 43:566): each pixel keeps a reference log intensity and emits an ON (OFF) event when the log
intensity rises (falls) by its threshold; the reference then moves by one threshold (as in ESIM,
Rebecq, Gehrig & Scaramuzza 2018), and the pixel is blind for a refractory period.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import torch

from spikefa.errors import DataError

# saccade position profile: fraction of the displacement covered at fraction u of the saccade time
PROFILES: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "linear": lambda u: u,
    "cosine": lambda u: 0.5 - 0.5 * torch.cos(math.pi * u),  # bell-shaped speed, zero at the ends
    "minjerk": lambda u: u**3 * (10 - 15 * u + 6 * u**2),  # minimum-jerk (Flash & Hogan 1985)
}


class FlatEvents(NamedTuple):
    """Events of a batch as flat 1-D tensors: image index b, pixel x, y, time t (µs), polarity p."""

    b: torch.Tensor
    x: torch.Tensor
    y: torch.Tensor
    t: torch.Tensor
    p: torch.Tensor


class PixelParams(NamedTuple):
    """Per-pixel DVS parameters, each [B, H, W]: ON and OFF thresholds (log units)."""

    theta_on: torch.Tensor
    theta_off: torch.Tensor


def saccade_path(
    times_us: torch.Tensor,
    saccades: tuple[tuple[float, float], ...],
    saccade_us: int,
    profile: str,
    origin: tuple[float, float],
) -> torch.Tensor:
    """Image offset (x, y) in sensor pixels at each time [K] -> [K, 2] (float64).

    Saccade i runs over [i * saccade_us, (i + 1) * saccade_us) and adds `saccades[i]` along the
    position `profile`; after the last saccade the image stays where it ended.
    """
    steps = torch.tensor(saccades, dtype=torch.float64)
    starts = torch.cat([torch.zeros(1, 2, dtype=torch.float64), steps.cumsum(0)])
    t = times_us.to(torch.float64) / saccade_us
    index = t.floor().clamp(0, len(saccades) - 1).long()
    u = (t - index).clamp(0.0, 1.0)
    u = torch.where(t >= len(saccades), torch.ones_like(u), u)
    covered = PROFILES[profile](u)
    path = starts[index] + covered[:, None] * steps[index]
    return path + torch.tensor(origin, dtype=torch.float64)


def pad_images(images: torch.Tensor, pad: int) -> torch.Tensor:
    """[B, H0, W0] -> [B, H0 + 2 pad, W0 + 2 pad] with zeros around (the dark screen)."""
    return torch.nn.functional.pad(images, (pad, pad, pad, pad))


def shift_bilinear(
    padded: torch.Tensor, pad: int, offset_xy: tuple[float, float], sensor_hw: tuple[int, int]
) -> torch.Tensor:
    """Sensor view [B, H, W] of padded images moved by `offset_xy`, by bilinear interpolation.

    sensor(X, Y) = image(X - ox, Y - oy); outside the image the screen is dark (0).
    """
    height, width = sensor_hw
    ox, oy = offset_xy
    ix, iy = math.floor(ox), math.floor(oy)
    fx, fy = ox - ix, oy - iy

    rows = slice(pad - iy - 1, pad - iy + height)  # one extra row above, for the vertical lerp
    left = padded[:, rows, pad - ix : pad - ix + width]
    right = padded[:, rows, pad - ix - 1 : pad - ix - 1 + width]
    across = torch.lerp(left, right, fx)  # image(X - ix - fx), rows Y - iy - 1 .. Y - iy
    return torch.lerp(across[:, 1:], across[:, :-1], fy)


def crossing_times(
    level: torch.Tensor, log_prev: torch.Tensor, log_now: torch.Tensor, t0: float, dt: float
) -> torch.Tensor:
    """Time at which the log intensity, linear over [t0, t0 + dt], crosses `level` (clamped)."""
    change = log_now - log_prev
    safe = torch.where(change == 0, torch.ones_like(change), change)
    frac = torch.where(change == 0, torch.ones_like(change), (level - log_prev) / safe)
    return t0 + dt * frac.clamp(0.0, 1.0)


def simulate_dvs(
    log_frames: Callable[[int], torch.Tensor],
    n_steps: int,
    dt_us: float,
    params: PixelParams,
    refractory_us: float,
) -> FlatEvents:
    """Run the contrast detector over `n_steps` steps; `log_frames(k)` is log intensity [B, H, W] at k·dt.

    At most one event per pixel per step; a change larger than the threshold carries over to the
    next steps. Event times are interpolated inside the step and respect the refractory period.
    """
    if isinstance(n_steps, bool) or not isinstance(n_steps, int) or n_steps < 1:
        raise DataError(f"simulate_dvs: n_steps = {n_steps!r} is not allowed; expected an integer >= 1 (time steps)")
    log_prev = log_frames(0)
    ref = log_prev.clone()
    last = torch.full_like(ref, -math.inf)
    found: list[torch.Tensor] = []
    for k in range(1, n_steps + 1):
        log_now = log_frames(k)
        t0 = (k - 1) * dt_us
        ready = (t0 + dt_us - last) >= refractory_us
        diff = log_now - ref
        on = diff >= params.theta_on
        fire = (on | (diff <= -params.theta_off)).logical_and_(ready)
        idx = fire.nonzero(as_tuple=True)
        if idx[0].numel():
            on_f = on[idx]
            level = torch.where(on_f, ref[idx] + params.theta_on[idx], ref[idx] - params.theta_off[idx])
            t = crossing_times(level, log_prev[idx], log_now[idx], t0, dt_us)
            t = torch.maximum(t, last[idx] + refractory_us)
            ref[idx] = level
            last[idx] = t
            found.append(torch.stack([idx[0].double(), idx[2].double(), idx[1].double(), t, on_f.double()]))
        log_prev = log_now
    if not found:
        empty = torch.zeros(0, dtype=torch.int64)
        return FlatEvents(empty, empty, empty, empty.double(), empty)
    b, x, y, t, p = torch.cat(found, dim=1)
    return FlatEvents(b.long(), x.long(), y.long(), t, p.long())
