"""``spikefa bench spiking``: online DFA against snnTorch surrogate-gradient BPTT, one run.

Both learners train the same card's network on the same batch (built from the same seed) with
Adam. Time is the median seconds per training step over interleaved rounds at the card's T,
reported as a ratio (an epoch is a fixed number of steps, so the ratio per epoch is the same).
Memory is the peak allocation during one training step for each T: on CUDA from the allocator's
peak counter, on CPU from the PyTorch profiler's allocation timeline (bytes allocated by torch
ops, in the order they happen). BPTT keeps its graph across all T steps, so its peak grows with
T; online DFA keeps only the current state and traces.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from spikefa.rules.registry import REFERENCE
from spikefa.runs.checkpoint import atomic_write_text, write_json
from spikefa.train.optim import adam

BASELINE = "bptt"


def learners(error_every: Sequence[int] = (1,), dfa_options: dict[str, Any] | None = None
             ) -> dict[str, tuple[str, dict[str, Any]]]:
    """label -> (rule in the registry, rule options): BPTT, then online DFA per broadcast period k
    (over `dfa_options`, e.g. the card's preset, so the bench times the rule as the card trains it)."""
    out: dict[str, tuple[str, dict[str, Any]]] = {BASELINE: (REFERENCE, {})}
    for k in error_every:
        out["online-dfa" if k == 1 else f"online-dfa-k{k}"] = ("dfa", {**(dfa_options or {}), "error_every": int(k)})
    return out


def build_learner(card_name: str, rule: str, time_steps: int, input_shape: tuple[int, int, int], classes: int,
             device: str, options: dict[str, Any] | None = None) -> torch.nn.Module:
    from spikefa.catalog import load_card
    from spikefa.functional.encoders import encoder_of
    from spikefa.nn.build import build
    from spikefa.nn.online import EncodedSNN
    from spikefa.rules.registry import convert

    card = load_card(card_name)
    if not card.spiking or card.encoder is None:
        from spikefa.errors import SpikefaError

        raise SpikefaError(f"bench spiking needs a spiking card (arch snn-* or snntorch), got {card_name!r} "
                           f"({card.arch})")
    net = convert(build(card, input_shape, classes, seed=0), rule, seed=0, input_shape=input_shape,
                  options=options or {})
    return EncodedSNN(net, encoder_of(card.encoder, time_steps), seed=0).to(device)


def train_step(model: torch.nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
                zero: bool = True) -> None:
    if zero:
        opt.zero_grad(set_to_none=True)
    if model.local_step(x, y) is None:  # type: ignore[operator]
        F.cross_entropy(model(x), y).backward()
    opt.step()


@contextlib.contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """torch's CPU profiler prints its start/stop notes from C++ straight to file descriptor 2; send
    them to /dev/null while it runs (Python errors still raise)."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def peak_bytes(fn: Callable[[], None], device: str) -> int:
    """Peak bytes allocated by torch while `fn` runs (above what was allocated before)."""
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        fn()
        torch.cuda.synchronize()
        return int(torch.cuda.max_memory_allocated() - base)
    from torch.profiler import ProfilerActivity, profile

    with native_stderr_silenced(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    events = sorted(prof.events(), key=lambda e: e.time_range.start)
    current = peak = 0
    for e in events:
        current += e.self_cpu_memory_usage
        peak = max(peak, current)
    return int(peak)


def bench_spiking(card: str = "snn-1x800-lif", batch_size: int = 128, time_steps: Sequence[int] = (10, 25, 50, 100),
                  timed_steps: int = 25, rounds: int = 5, steps: int = 3, device: str = "cpu",
                  input_shape: tuple[int, int, int] = (1, 28, 28), classes: int = 10,
                  error_every: Sequence[int] = (1,)) -> dict[str, Any]:
    """Seconds per step at T = `timed_steps` (ratio to BPTT) and peak memory per T, for BPTT and
    online DFA broadcasting the error every k in `error_every` steps."""
    from spikefa.catalog import load_card

    which = learners(error_every, dict(load_card(card).preset("dfa").options))
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(batch_size, *input_shape, generator=gen).to(device)
    y = torch.randint(0, classes, (batch_size,), generator=gen).to(device)
    models = {k: build_learner(card, r, timed_steps, input_shape, classes, device, o) for k, (r, o) in which.items()}
    opts = {k: adam(m.parameters(), lr=1e-4) for k, m in models.items()}
    times: dict[str, list[float]] = {k: [] for k in models}
    for r in range(rounds + 1):  # round 0 warms up
        for k, m in models.items():
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            for _ in range(steps):
                train_step(m, opts[k], x, y)
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            if r:
                times[k].append((time.perf_counter() - t0) / steps)
    memory: dict[str, dict[int, int]] = {k: {} for k in which}
    for t in time_steps:
        for k, (rule, opts) in which.items():
            m = build_learner(card, rule, t, input_shape, classes, device, opts)
            opt = adam(m.parameters(), lr=1e-4)
            train_step(m, opt, x, y)  # optimiser state exists before measuring
            opt.zero_grad(set_to_none=True)  # nothing allocated before the measurement is freed inside it
            memory[k][t] = peak_bytes(lambda: train_step(m, opt, x, y, zero=False), device)
    med = {k: statistics.median(v) for k, v in times.items()}
    first, last = min(time_steps), max(time_steps)
    return {
        "card": card, "options": {k: o for k, (_, o) in which.items()}, "batch_size": batch_size,
        "device": device, "torch_threads": torch.get_num_threads(),
        "timed_steps": timed_steps, "rounds": rounds, "steps_per_round": steps,
        "step_seconds": med, "time_ratio": {k: v / med[BASELINE] for k, v in med.items()},
        "memory_bytes": {k: {str(t): b for t, b in v.items()} for k, v in memory.items()},
        "memory_growth": {k: v[last] / max(v[first], 1) for k, v in memory.items()},
        "growth_from_to": [first, last],
    }


def write_bench_spiking(result: dict[str, Any], out_dir: str | Path) -> str:
    """bench_spiking.json, bench_spiking.md and memory.png in `out_dir`; returns the Markdown."""
    out = Path(out_dir)
    write_json(out / "bench_spiking.json", result)
    ts = list(result["memory_bytes"][BASELINE])
    first, last = result["growth_from_to"]
    lines = [f"# Online DFA vs surrogate-gradient BPTT: `{result['card']}`, batch {result['batch_size']}, "
             f"{result['device']} ({result['torch_threads']} threads)", "",
             f"Time: median of {result['rounds']} interleaved rounds of {result['steps_per_round']} training "
             f"steps at T = {result['timed_steps']}.", "",
             "| learner | rule options | ms per step | × BPTT |", "|---|---|---:|---:|"]
    options = result.get("options", {})
    for k, s in result["step_seconds"].items():
        opts = ", ".join(f"{n}={v}" for n, v in options.get(k, {}).items()) or "–"
        lines.append(f"| {k} | {opts} | {1000 * s:.1f} | {result['time_ratio'][k]:.3f} |")
    lines += ["", "Peak memory of one training step (MiB):", "",
              "| learner | " + " | ".join(f"T = {t}" for t in ts) + f" | growth T={first}→{last} |",
              "|---|" + "---:|" * (len(ts) + 1)]
    for k, per in result["memory_bytes"].items():
        lines.append(f"| {k} | " + " | ".join(f"{per[t] / 2**20:.1f}" for t in ts)
                     + f" | {result['memory_growth'][k]:.2f}× |")
    text = "\n".join(lines) + "\n"
    atomic_write_text(out / "bench_spiking.md", text)
    _plot(result, out / "memory.png")
    return text


def _plot(result: dict[str, Any], path: Path) -> None:
    from spikefa._optional import available

    if not available("matplotlib"):
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5))
    for k, per in result["memory_bytes"].items():
        ax.plot([int(t) for t in per], [b / 2**20 for b in per.values()], marker="o", label=k)
    ax.set_xlabel("time steps T")
    ax.set_ylabel("peak memory per step (MiB)")
    ax.set_title(f"{result['card']}, batch {result['batch_size']}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
