"""``spikefa bench peers``: spikefa beside its peer libraries, measured together in one process.

Four comparisons, each timed in interleaved rounds (round 0 warms up; spikefa and the peers take
turns within a round; the median over rounds is reported, as in `spikefa.train.bench`):

- ``fa``: one training step (forward, backward, Adam) of a 784-800-800-10 tanh MLP, batch 128:
  spikefa's FA / sign symmetry / DFA (and plain backprop) vs BioTorch 0.0.16's ``fa`` / ``usf`` /
  ``dfa`` modes (Nøkland 2016; Liao et al. 2016; Lillicrap et al. 2016);
- ``dc``: one Diehl & Cook (2015) image with learning, batch 1, 250 ms at 128 Hz, the same images
  for both: spikefa's `DiehlCookNet` (its compiled loop and its torch kernels) vs BindsNET 0.3.4's
  ``DiehlAndCook2015`` (same size, inhibition 120, θ₊ = 0.05, ν = (10⁻⁴, 10⁻²), norm 78.4);
- ``stdp``: one plastic 784→400 synapse matrix, Brian2's documented pair STDP (mode ``brian2``,
  float64), pre and post Poisson trains at 20 Hz for 1 s: `stdp_run_jit` (compiled) and
  `stdp_step_events` (torch, step by step) vs Brian2 2.9 with the numpy and cython targets
  (compilation excluded: round 0 compiles; Brian2's per-run set-up is in its wall time, and rows
  "code objects" give its profiler's time of the simulation alone; the final weights are compared);
- ``spiking``: one training step of the ``snn-1x800-lif`` card at T = 25: online DFA vs snnTorch
  surrogate-gradient BPTT (`spikefa.train.bench_spiking`).

Peers come from the optional extra ``spikefa[peers]`` (plus ``pip install --no-deps
biotorch==0.0.16 bindsnet==0.3.4``: their declared dependencies would replace the CPU torch) and
are imported through `spikefa._optional.require`; nothing is installed at run time. A peer that is missing or fails is
a row with its reason; spikefa's side is measured regardless.

Roofline: every row carries the dense-equivalent floating-point operations of what it computes
(the matrix products listed in the benchmark's ``shapes``; element-wise work and the optimiser are
not counted) and its GFLOP/s; the benchmark times ``torch.mm`` on exactly those shapes in the
same run, so ``fraction`` is the share of what a dense matmul of the same shapes reaches on this
machine now. An event-driven kernel skips the zeros of a sparse input and can exceed 1.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from spikefa.errors import ConfigError
from spikefa.runs.checkpoint import atomic_write_text, write_json
from spikefa.train.peer_cases import bench_dc, bench_fa, bench_online, bench_stdp
from spikefa.train.peer_timing import PEERS, peer_version, spikefa_version

SCHEMA = "spikefa.bench_peers/1"


def _dc(o: dict[str, Any]) -> dict[str, Any]:
    imgs, source = default_images(o["images"], o["data_dir"])
    section = bench_dc(imgs, o["dc_sizes"], o["rounds"], time_ms=o["dc_time_ms"])
    section["notes"].append(f"Images: {source}, {len(imgs)} of them, the same sequence for every side.")
    return section


# name -> runner over the command's options; the order is the report's
BENCHMARKS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "fa": lambda o: bench_fa(o["rounds"], batch_size=o["batch_size"], input_shape=o["input_shape"]),
    "dc": _dc,
    "stdp": lambda o: bench_stdp(o["stdp_rounds"], time_ms=o["stdp_time_ms"]),
    "spiking": lambda o: bench_online(o["rounds"], batch_size=o["batch_size"], input_shape=o["input_shape"],
                                      time_steps=o["spiking_steps"]),
}


# ------------------------------------------------------------------ the command


def default_images(count: int, data_dir: str | os.PathLike[str] | None = None) -> tuple[torch.Tensor, str]:
    """``count`` images [count, 784] in [0, 1] for the Diehl & Cook comparison and their source:
    the first MNIST training images when ``data_dir`` holds MNIST, else scikit-learn's 8×8 digits
    (shipped with it, no download) scaled to 24×24 and padded to 28×28 as MNIST's digits are."""
    if data_dir is not None:
        from spikefa.data.mnist import read_idx_split

        images, _ = read_idx_split("mnist", Path(data_dir), "train")
        return torch.as_tensor(images[:count], dtype=torch.float32).reshape(count, -1) / 255.0, f"MNIST {data_dir}"
    from sklearn.datasets import load_digits

    digits = torch.as_tensor(load_digits().images[:count], dtype=torch.float32)[:, None] / 16.0
    big = F.pad(F.interpolate(digits, size=(24, 24), mode="bilinear", align_corners=False), (2, 2, 2, 2))
    return big.clamp(0, 1).reshape(count, -1), "scikit-learn digits scaled to 28x28"


def bench_peers(only: Sequence[str] = ("fa", "dc", "stdp", "spiking"), rounds: int = 5, batch_size: int = 128,
                dc_sizes: Sequence[int] = (100, 400), images: int = 8, data_dir: str | None = None,
                dc_time_ms: float = 250.0, stdp_rounds: int = 3, stdp_time_ms: float = 1000.0,
                input_shape: tuple[int, int, int] = (1, 28, 28), spiking_steps: int = 25) -> dict[str, Any]:
    """Run the chosen comparisons (``BENCHMARKS``) in this process; returns the JSON document."""
    unknown = [b for b in only if b not in BENCHMARKS]
    if unknown:
        raise ConfigError(f"bench peers --only {','.join(unknown)} is not allowed; expected some of {','.join(BENCHMARKS)}")
    o = {"rounds": rounds, "batch_size": batch_size, "dc_sizes": dc_sizes, "images": images, "data_dir": data_dir,
         "dc_time_ms": dc_time_ms, "stdp_rounds": stdp_rounds, "stdp_time_ms": stdp_time_ms,
         "input_shape": input_shape, "spiking_steps": spiking_steps}
    load_before = list(os.getloadavg())
    sections = [BENCHMARKS[name](o) for name in only]
    return {"schema": SCHEMA, "spikefa": spikefa_version(), "torch": torch.__version__,
            "python": platform.python_version(), "torch_threads": torch.get_num_threads(), "cpus": os.cpu_count(),
            "rounds": rounds, "load_before": load_before, "load_after": list(os.getloadavg()),
            "peers": {k: {"module": p.module, "expected": p.version, "installed": peer_version(k)}
                      for k, p in PEERS.items()},
            "benchmarks": sections}


def _ms(seconds: float | None) -> str:
    return "–" if seconds is None else f"{1000 * seconds:.2f}"


def _load(values: Sequence[float]) -> str:
    return " / ".join(f"{v:.2f}" for v in values)


def markdown(result: dict[str, Any]) -> str:
    """The tables, ratios and roofline lines of a `bench_peers` result."""
    lines = ["# spikefa beside its peers (one process, interleaved rounds, medians)", "",
             f"torch {result['torch']} ({result['torch_threads']} threads, {result['cpus']} CPUs), Python "
             f"{result['python']}, {result['rounds']} rounds. Load average (1 / 5 / 15 min): before "
             f"{_load(result['load_before'])}, after {_load(result['load_after'])}.", ""]
    for sec in result["benchmarks"]:
        lines += [f"## {sec['title']}", "", f"| side | version | status | {sec['unit']} | GFLOP/s | of dense matmul |",
                  "|---|---|---|---:|---:|---:|"]
        for r in sec["rows"]:
            status = r["status"] if r["status"] == "ok" else f"{r['status']}: {r['reason']}"
            gf = "–" if r["gflops"] is None else f"{r['gflops']:.2f}"
            frac = "–" if r["fraction"] is None else f"{100 * r['fraction']:.1f} %"
            lines.append(f"| {r['label']} | {r['version']} | {status} | {_ms(r['seconds'])} | {gf} | {frac} |")
        lines += ["", "| spikefa ÷ peer | ratio |", "|---|---:|"]
        for q in sec["ratios"]:
            lines.append(f"| {q['spikefa']} ÷ {q['peer']} | " + ("–" if q["ratio"] is None else f"{q['ratio']:.3f}")
                         + " |")
        for key, d in sec["dense"].items():
            lines.append(f"\nRoofline ({key}): a dense torch.mm of the same shapes reaches {d['gflops']:.2f} GFLOP/s "
                         f"in this run ({_ms(d['seconds'])} ms).")
        for r in sec["rows"]:
            extra = {k: r[k] for k in ("max_weight_difference", "code_object_seconds") if k in r}
            if extra:
                lines.append(f"\n{r['label']}: " + ", ".join(f"{k} = {v:.3g}" for k, v in extra.items()))
        lines += [f"\n{n}" for n in sec["notes"]] + [""]
    return "\n".join(lines) + "\n"


def write_bench_peers(result: dict[str, Any], out_dir: str | os.PathLike[str]) -> str:
    """bench_peers.json, bench_peers.md and bench_peers.png in `out_dir`; returns the Markdown."""
    out = Path(out_dir)
    write_json(out / "bench_peers.json", result)
    text = markdown(result)
    atomic_write_text(out / "bench_peers.md", text)
    _plot(result, out / "bench_peers.png")
    return text


def _plot(result: dict[str, Any], path: Path) -> None:
    from spikefa._optional import available

    ratios = [(f"{q['spikefa']} ÷ {q['peer']}", q["ratio"]) for s in result["benchmarks"] for q in s["ratios"]
              if q["ratio"] is not None]
    if not available("matplotlib") or not ratios:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 0.35 * len(ratios) + 1.2))
    ax.barh(range(len(ratios)), [r for _, r in ratios], color=["C0" if r <= 1 else "C3" for _, r in ratios])
    ax.set_yticks(range(len(ratios)), [n for n, _ in ratios], fontsize=8)
    ax.invert_yaxis()
    ax.axvline(1.0, color="k", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("time ratio, spikefa ÷ peer (< 1: spikefa faster)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
