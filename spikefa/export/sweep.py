"""Accuracy versus weight bits and membrane (state) bits per target: the table, JSON and plot of
``spikefa export sweep``, and the float-vs-integer comparison ``spikefa export`` writes into its report.

`accuracy` takes any simulator and an iterable of (spikes [T, B, ...], labels [B]) batches, so the
caller plugs in the data set; `sweep` runs the float network once and the integer simulator for
every (target, weight bits, state bits) cell, recording refusals (with the checker's reasons) as
rows, with a progress bar over those cells. A state narrower than the profile's shares the weights'
scale (MINT, Yin et al. 2023; `spikefa.export.profile.Profile.with_state_bits`). `compare` runs both simulators once over the batches: both
accuracies and, per layer, the Earth Mover's (1-Wasserstein) distance between the float and the
integer per-neuron firing-rate distributions (`emd`).
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from spikefa.errors import SpikefaError
from spikefa.export.check import check
from spikefa.export.network import dense_layers
from spikefa.export.profile import Profile, load_profile
from spikefa.export.quantize import quantize
from spikefa.export.simulate import float_layers, output_scores, run_float, run_int

Batches = Iterable[tuple[torch.Tensor, torch.Tensor]]


def accuracy(simulate: Callable[[torch.Tensor], torch.Tensor], batches: Batches) -> float:
    """Fraction of labels equal to argmax of ``simulate(spikes)`` (class scores [B, classes])."""
    right, total = 0, 0
    for spikes, labels in batches:
        pred = simulate(spikes).argmax(dim=1)
        right += int((pred == labels).sum())
        total += int(labels.numel())
    return right / total if total else math.nan


def _scores_int(qnet: Any) -> Callable[[torch.Tensor], torch.Tensor]:
    unit = qnet.layers[-1].unit
    return lambda x: output_scores(run_int(qnet, x), unit)


@dataclass(frozen=True)
class SweepRow:
    """One (target, weight bits, state bits) cell: integer-simulator accuracy, or why there is none.
    ``state_bits`` is the membrane width the cell asked for (None: the profile's own, `state_width`)."""

    target: str
    bits: int
    accuracy: float
    float_accuracy: float
    status: str
    state_bits: int | None = None
    state_width: int | None = None  # the membrane bits the cell ran with (the profile's when state_bits is None)

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "accuracy": None if math.isnan(self.accuracy) else self.accuracy,
                "float_accuracy": None if math.isnan(self.float_accuracy) else self.float_accuracy}

    @property
    def loss_points(self) -> float:
        return 100.0 * (self.float_accuracy - self.accuracy)


def _reiterable(batches: Batches | Callable[[], Batches]) -> Callable[[], Batches]:
    if callable(batches):
        return batches  # type: ignore[return-value]
    if iter(batches) is batches:  # a one-shot iterator: keep its batches
        kept = list(batches)
        return lambda: kept
    return lambda: batches  # type: ignore[return-value]


def sweep(net: nn.Module, targets: Sequence[str | Profile], bits: Sequence[int],
          batches: Batches | Callable[[], Batches], *, progress: bool = False,
          state_bits: Sequence[int | None] = (None,),
          trained_state_bits: Mapping[str, int] | None = None) -> list[SweepRow]:
    """Accuracy of the integer simulator for every target × weight bits × `state_bits` (membrane
    widths; None: the profile's, or for a profile named in `trained_state_bits` the width a QAT run
    trained with for it), in that order, from a re-iterable or a callable giving the batches
    (a one-shot iterator is kept in memory). A cell the target cannot take is a row saying why
    (the checker's reasons). With `progress`, a tqdm bar on stderr counts the float pass and every cell."""
    from tqdm.auto import tqdm

    data = _reiterable(batches)
    profiles = [load_profile(t) if isinstance(t, str) else t for t in targets]
    widths = list(dict.fromkeys(state_bits)) or [None]
    rows = []
    with tqdm(total=1 + len(profiles) * len(bits) * len(widths), desc="export sweep", unit="cell",
              disable=not progress, dynamic_ncols=True) as bar:
        bar.set_postfix_str("float", refresh=False)
        layers, _ = dense_layers(net)
        floats = float_layers(layers)
        base = accuracy(lambda x: output_scores(run_float(floats, x)), data()) if layers else math.nan
        bar.update(1)
        for profile in profiles:
            for b in bits:
                for given in widths:
                    s = (trained_state_bits or {}).get(profile.name) if given is None else given
                    width = profile.neuron.state_bits if s is None else s
                    bar.set_postfix_str(f"{profile.name} {b}-bit, {width}-bit state", refresh=False)
                    problems = check(net, profile, b, state_bits=s)
                    if problems:
                        rows.append(SweepRow(profile.name, b, math.nan, base, "refused: " + "; ".join(problems), s,
                                             width))
                    else:
                        qnet = quantize(net, profile, b, state_bits=s)
                        acc = accuracy(_scores_int(qnet), data())
                        rows.append(SweepRow(profile.name, b, acc, base, "ok", s, qnet.state_bits))
                    bar.update(1)
    return rows


def emd(u: Sequence[float] | torch.Tensor, v: Sequence[float] | torch.Tensor) -> float:
    """Earth Mover's (1-Wasserstein) distance between two samples of numbers, each value weighted
    equally: ∫ |F_u(x) − F_v(x)| dx over the empirical CDFs. `scipy.stats.wasserstein_distance` when
    scipy is installed, else the same integral over the merged sorted values. Raises `SpikefaError`
    for an empty sample."""
    a = torch.as_tensor(u, dtype=torch.float64).reshape(-1)
    b = torch.as_tensor(v, dtype=torch.float64).reshape(-1)
    if not a.numel() or not b.numel():
        raise SpikefaError("the Earth Mover's distance needs two non-empty samples")
    from spikefa._optional import available, require

    if available("scipy"):
        return float(require("scipy.stats").wasserstein_distance(a.numpy(), b.numpy()))
    return emd_cdf(a, b)


def emd_cdf(a: torch.Tensor, b: torch.Tensor) -> float:
    """`emd` without scipy: the area between the two empirical CDFs, step by step between the
    merged sorted values."""
    a, b = torch.sort(a).values, torch.sort(b).values
    merged = torch.sort(torch.cat([a, b])).values
    widths = merged[1:] - merged[:-1]
    cdf_a = torch.searchsorted(a, merged[:-1], right=True).to(torch.float64) / a.numel()
    cdf_b = torch.searchsorted(b, merged[:-1], right=True).to(torch.float64) / b.numel()
    return float(((cdf_a - cdf_b).abs() * widths).sum())


@dataclass(frozen=True)
class Comparison:
    """The float network and its integer simulation on the same labelled batches: accuracies, and per
    layer the mean per-neuron firing rate (spikes per step) of each and the EMD between the two
    per-neuron rate distributions."""

    float_accuracy: float
    accuracy: float
    samples: int
    rates_float: tuple[float, ...]
    rates_int: tuple[float, ...]
    rate_emd: tuple[float, ...]

    def as_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


def compare(net: nn.Module, qnet: Any, batches: Batches | Callable[[], Batches]) -> Comparison:
    """Run the float network (`run_float`) and the integer simulator (`run_int`) once over
    (spikes [T, B, ...], labels [B]) batches; see `Comparison`. Raises `SpikefaError` for no batches."""
    layers, _ = dense_layers(net)
    floats = float_layers(layers)
    unit = qnet.layers[-1].unit
    right_f = right_i = total = 0
    sums_f: list[torch.Tensor] = []
    sums_i: list[torch.Tensor] = []
    steps = 0
    for spikes, labels in _reiterable(batches)():
        rec_f, rec_i = run_float(floats, spikes), run_int(qnet, spikes)
        right_f += int((output_scores(rec_f).argmax(1) == labels).sum())
        right_i += int((output_scores(rec_i, unit).argmax(1) == labels).sum())
        total += int(labels.numel())
        steps += int(spikes.shape[0] * spikes.shape[1])
        counts_f = [s.to(torch.float64).sum((0, 1)) for s in rec_f.spikes]
        counts_i = [s.to(torch.float64).sum((0, 1)) for s in rec_i.spikes]
        sums_f = counts_f if not sums_f else [a + c for a, c in zip(sums_f, counts_f)]
        sums_i = counts_i if not sums_i else [a + c for a, c in zip(sums_i, counts_i)]
    if not total:
        raise SpikefaError("no labelled batches to compare the float and the integer network on")
    rates_f, rates_i = [c / steps for c in sums_f], [c / steps for c in sums_i]
    return Comparison(right_f / total, right_i / total, total, tuple(float(r.mean()) for r in rates_f),
                      tuple(float(r.mean()) for r in rates_i), tuple(emd(f, i) for f, i in zip(rates_f, rates_i)))


def write_sweep(rows: Sequence[SweepRow], out_dir: str | Path) -> list[Path]:
    """``sweep.md`` (table), ``sweep.csv``, ``sweep.json`` (the rows) and ``sweep.png`` (accuracy
    vs weight bits, one line per target and state width)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    lines = ["| target | bits | state bits | accuracy (%) | float (%) | loss (points) | status |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        acc = "—" if math.isnan(r.accuracy) else f"{100 * r.accuracy:.2f}"
        loss = "—" if math.isnan(r.accuracy) else f"{r.loss_points:+.2f}"
        lines.append(f"| {r.target} | {r.bits} | {_state(r)} | {acc} | {100 * r.float_accuracy:.2f} | {loss} "
                     f"| {r.status} |")
    (out / "sweep.md").write_text("\n".join(lines) + "\n")
    with (out / "sweep.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["target", "bits", "state_bits", "accuracy", "float_accuracy", "status"])
        writer.writerows([r.target, r.bits, r.state_width, r.accuracy, r.float_accuracy, r.status] for r in rows)
    (out / "sweep.json").write_text(json.dumps([r.as_dict() for r in rows], indent=2) + "\n")
    return [out / "sweep.md", out / "sweep.csv", out / "sweep.json", plot_sweep(rows, out / "sweep.png")]


def _state(r: SweepRow) -> str:
    """A row's membrane width for the table: ``4`` when asked for, ``32 (profile)`` for the profile's own."""
    if r.state_width is None:
        return "—"
    return f"{r.state_width}" if r.state_bits is not None else f"{r.state_width} (profile)"


def sweep_series(rows: Sequence[SweepRow]) -> dict[str, list[tuple[int, float]]]:
    """The plot's lines: label -> sorted (weight bits, accuracy %) of the rows that ran, one line per
    target, or per target and state width when the rows hold more than one width."""
    several = len({r.state_bits for r in rows}) > 1
    out: dict[str, list[tuple[int, float]]] = {}
    for r in rows:
        if math.isnan(r.accuracy):
            continue
        label = r.target
        if several:
            label += f", {r.state_width}-bit state" + (" (profile)" if r.state_bits is None else "")
        out.setdefault(label, []).append((r.bits, 100 * r.accuracy))
    return {k: sorted(v) for k, v in out.items()}


def plot_sweep(rows: Sequence[SweepRow], path: Path) -> Path:
    """Accuracy against weight bits, the lines of `sweep_series` (one per target and state width),
    the float accuracy a grey dashed line."""
    from spikefa._optional import require

    require("matplotlib").use("Agg")
    plt = require("matplotlib.pyplot")
    fig, ax = plt.subplots(figsize=(6, 4))
    styles = ("-", "--", ":", "-.")
    for k, (label, pts) in enumerate(sweep_series(rows).items()):
        ax.plot(*zip(*pts), marker="o", ls=styles[k % len(styles)], label=label)
    if rows and not math.isnan(rows[0].float_accuracy):
        ax.axhline(100 * rows[0].float_accuracy, ls="--", color="grey", label="float")
    ax.set_xlabel("weight bits")
    ax.set_ylabel("accuracy (%)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


ENCODE_CHUNK = 256
"""Examples encoded per draw by `rate_batches`: the spikes do not depend on the batch size."""


def rate_batches(x: torch.Tensor, y: torch.Tensor, encoder: Callable[..., torch.Tensor], batch_size: int = 256,
                 seed: int = 0) -> Callable[[], Batches]:
    """Batches (time-major spikes [T, B, ...], labels [B]) of encoded static inputs, the same spikes on
    every pass (seeded). The encoder draws `ENCODE_CHUNK` examples at a time, whatever `batch_size`,
    so an example's spikes, and the accuracy measured on them, do not depend on the batch size."""
    def make() -> Batches:
        gen = torch.Generator().manual_seed(seed)
        held: list[torch.Tensor] = []
        start = 0  # index of the first held example
        for i in range(0, len(x), ENCODE_CHUNK):
            held.append(encoder(x[i:i + ENCODE_CHUNK], gen))
            spikes = torch.cat(held, dim=1) if len(held) > 1 else held[0]
            last = i + ENCODE_CHUNK >= len(x)
            while spikes.shape[1] >= batch_size or (last and spikes.shape[1] > 0):
                n = min(batch_size, spikes.shape[1])
                yield spikes[:, :n], y[start:start + n]
                spikes, start = spikes[:, n:], start + n
            held = [spikes]

    return make


__all__ = ["Comparison", "SweepRow", "accuracy", "compare", "emd", "emd_cdf", "plot_sweep", "rate_batches", "sweep",
           "sweep_series", "write_sweep"]
