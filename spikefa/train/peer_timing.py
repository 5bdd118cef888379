"""Timing machinery of `spikefa bench peers` (`spikefa.train.bench_peers` states the protocol):
the peers and their one import door, interleaved rounds, dense-equivalent FLOPs and the roofline,
and `Section`, one comparison's rows, ratios and roofline as JSON."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import torch

from spikefa._optional import require

Shape = tuple[int, int, int]  # (m, k, n) of one [m, k]·[k, n] product


@dataclass(frozen=True)
class Peer:
    """A peer library: the module imported through `spikefa._optional`, its distribution and the
    version the comparison was written for."""

    module: str
    dist: str
    version: str


PEERS: dict[str, Peer] = {
    "biotorch": Peer("biotorch.module.biomodule", "biotorch", "0.0.16"),
    "bindsnet": Peer("bindsnet.models", "bindsnet", "0.3.4"),
    "brian2": Peer("brian2", "brian2", "2.9.0"),
    "snntorch": Peer("snntorch", "snntorch", "1.0.0"),
}


def load_peer(name: str) -> Any:
    """Import a peer's module through the optional-dependency door (raises `MissingExtraError`)."""
    return require(PEERS[name].module)


def peer_version(name: str) -> str:
    """The installed version of a peer's distribution, or "not installed"."""
    try:
        return metadata.version(PEERS[name].dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def matmul_flops(shapes: Sequence[Shape]) -> int:
    """Floating-point operations of the products [m, k]·[k, n]: 2·m·k·n each."""
    return sum(2 * m * k * n for m, k, n in shapes)


def counted(shapes: Sequence[Shape]) -> list[list[int]]:
    """The products as [m, k, n, count] rows, in order of first appearance (the JSON form)."""
    counts: dict[Shape, int] = {}
    for s in shapes:
        counts[s] = counts.get(s, 0) + 1
    return [[*s, c] for s, c in counts.items()]


def roofline(flops: float, seconds: float, dense_flops: float, dense_seconds: float) -> dict[str, float]:
    """Achieved GFLOP/s of ``flops`` in ``seconds``, the dense matmul's GFLOP/s, and their ratio."""
    achieved, dense = flops / seconds / 1e9, dense_flops / dense_seconds / 1e9
    return {"gflops": achieved, "dense_gflops": dense, "fraction": achieved / dense}


def interleave(fns: dict[str, Callable[[], Any]], rounds: int, repeat: int = 1
               ) -> tuple[dict[str, list[float]], dict[str, str]]:
    """Seconds per call of each function, one list entry per round; all run once per round in
    turn (round 0 warms up and is dropped). A function that raises is reported in the second
    dict (label -> reason) and leaves the rounds."""
    times: dict[str, list[float]] = {k: [] for k in fns}
    failed: dict[str, str] = {}
    for r in range(rounds + 1):
        for label, fn in fns.items():
            if label in failed:
                continue
            try:
                t0 = time.perf_counter()
                for _ in range(repeat):
                    fn()
                elapsed = (time.perf_counter() - t0) / repeat
            except Exception as exc:  # a peer's failure is a row, not a crash
                failed[label] = reason(exc)
                continue
            if r:
                times[label].append(elapsed)
    return times, failed


def reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]


def dense_seconds(shapes: Sequence[Shape], rounds: int, repeat: int = 1) -> float:
    """Median seconds of ``torch.mm`` over all ``shapes`` (float32, random operands), repeated."""
    gen = torch.Generator().manual_seed(0)
    ops = {s: (torch.rand(s[0], s[1], generator=gen), torch.rand(s[1], s[2], generator=gen))
           for s in dict.fromkeys(shapes)}
    out = {s: torch.empty(s[0], s[2]) for s in ops}

    def run() -> None:
        for s in shapes:
            torch.mm(*ops[s], out=out[s])

    times, _ = interleave({"dense": run}, rounds, repeat)
    return statistics.median(times["dense"])


class Section:
    """One comparison: rows (spikefa's and the peers'), their spikefa ÷ peer ratios, the roofline."""

    def __init__(self, name: str, title: str, unit: str, shapes: dict[str, list[Shape]]) -> None:
        self.name, self.title, self.unit, self.shapes = name, title, unit, shapes
        self.rows: list[dict[str, Any]] = []
        self.pairs: list[tuple[str, str]] = []
        self.notes: list[str] = []

    def missing(self, label: str, peer: str, reason: str) -> None:
        self.rows.append({"label": label, "library": peer, "version": peer_version(peer), "status": "missing",
                          "reason": reason, "seconds": None, "flops": None, "gflops": None, "fraction": None})

    def add(self, label: str, library: str, times: dict[str, list[float]], failed: dict[str, str],
            flops_of: str) -> None:
        """A row for `label` from interleaved times (or its failure); flops from ``shapes[flops_of]``."""
        version = peer_version(library) if library in PEERS else spikefa_version()
        row: dict[str, Any] = {"label": label, "library": library, "version": version, "flops": None,
                               "gflops": None, "fraction": None, "seconds": None}
        if label in failed or not times.get(label):
            row.update(status="failed", reason=failed.get(label, "no timing"))
        else:
            row.update(status="ok", reason="", seconds=statistics.median(times[label]),
                       flops=matmul_flops(self.shapes[flops_of]), shapes=flops_of)
        self.rows.append(row)

    def finish(self, rounds: int) -> dict[str, Any]:
        """Roofline per row (dense matmul of each row's shapes timed now) and the ratios."""
        dense: dict[str, dict[str, float]] = {}
        for row in self.rows:
            if row["status"] != "ok":
                continue
            key = row.pop("shapes")
            if key not in dense:
                s = dense_seconds(self.shapes[key], rounds)
                dense[key] = {"seconds": s, "gflops": matmul_flops(self.shapes[key]) / s / 1e9}
            row.update(roofline(row["flops"], row["seconds"], row["flops"], dense[key]["seconds"]))
        by = {r["label"]: r for r in self.rows}
        ratios = []
        for ours, theirs in self.pairs:
            a, b = by.get(ours), by.get(theirs)
            ok = a is not None and b is not None and a["status"] == b["status"] == "ok"
            ratios.append({"spikefa": ours, "peer": theirs,
                           "ratio": a["seconds"] / b["seconds"] if ok else None})  # type: ignore[index]
        return {"name": self.name, "title": self.title, "unit": self.unit,
                "shapes": {k: counted(v) for k, v in self.shapes.items()},
                "dense": dense, "rows": self.rows, "ratios": ratios, "notes": self.notes}


def spikefa_version() -> str:
    from spikefa._version import __version__

    return __version__


def try_peer(section: Section, name: str, labels: Sequence[str]) -> Any | None:
    """The peer's module, or None after adding a "missing" row for each of its labels."""
    try:
        return load_peer(name)
    except ImportError as exc:
        for label in labels:
            section.missing(label, name, reason(exc))
        return None
