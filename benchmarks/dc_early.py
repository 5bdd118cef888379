"""Diehl & Cook's early learning, spikefa beside BindsNET: running accuracy over the first MNIST
training images (issue #17: "show the early learning curve beside BindsNET's").

    OMP_NUM_THREADS=1 python benchmarks/dc_early.py --images 2000 --neurons 400 --out DIR [--sides a,b]

Every side sees the same training images in the same order, one learning presentation each, with
spikefa's `DiehlCookParams(n_exc=N)` (BindsNET's ``DiehlAndCook2015`` takes the same inhibition, STDP
rates, weight norm, θ₊ and τ_θ; `spikefa.train.peer_cases.bindsnet_diehl_cook`). Sides:

- ``b1``: spikefa, one image at a time (the exact sequential rule; the 1,600 and 6,400 cards' mode);
- ``b1-noboost``: the same without re-presenting an image that drew fewer than 5 spikes at +32 Hz
  (``max_boosts = 0``; BindsNET's example has no such boost): what the first images' drive adds;
- ``b1-delay2``: the same with the inhibition arriving two steps after a spike (``inhibition_delay_ms
  = 2``), the timing of BindsNET's excitatory → inhibitory → excitatory loop;
- ``b64``: spikefa in exclusive batches of 64 (the 400-neuron card's mode);
- ``bindsnet``: BindsNET 0.3.4 (``pip install --no-deps bindsnet==0.3.4``), if it imports.

The measure is BindsNET's example's running accuracy (examples/mnist/eth_mnist.py): the spike counts of
each learning presentation are recorded; window w of W images (default 250) is voted on with the labels
assigned from window w − 1's counts (spikefa's all-activity vote and assignment for every side, so only
the networks differ). Also per window: neurons that have never fired so far, and mean spikes per image.
Writes DIR/dc_early.json, .md and .png. Bad input: one line, exit 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable

import torch

from spikefa._args import comma_items
from spikefa.data.registry import load_dataset
from spikefa.errors import SpikefaError
from spikefa.functional.voting import assign_labels, predict
from spikefa.nn.stdp import DiehlCookNet
from spikefa.schemas.stdp import DiehlCookParams

SIDES = ("b1", "b1-noboost", "b1-delay2", "b64", "bindsnet")


def spikefa_side(p: DiehlCookParams, batch: int, seed: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """Learning presentations of images [B, 784] → counts [B, N], in batches of `batch`."""
    net, gen = DiehlCookNet(p, seed=seed), torch.Generator().manual_seed(seed)

    def run(x: torch.Tensor) -> torch.Tensor:
        return torch.cat([net.present(xb, gen, learn=True) for xb in torch.split(x, batch)])
    return run


def bindsnet_side(p: DiehlCookParams, seed: int) -> Callable[[torch.Tensor], torch.Tensor]:
    from spikefa._optional import require
    from spikefa.train.peer_cases import bindsnet_diehl_cook, bindsnet_present

    torch.manual_seed(seed)  # BindsNET draws its initial weights and Poisson trains from torch's global RNG
    net = bindsnet_diehl_cook(p.n_exc, p)
    monitor = require("bindsnet.network.monitors").Monitor(net.layers["Ae"], state_vars=["s"], time=p.steps)
    net.add_monitor(monitor, name="Ae_spikes")

    def run(x: torch.Tensor) -> torch.Tensor:
        return torch.stack([bindsnet_present(net, img, p, monitor) for img in x])
    return run


def running_curve(counts: torch.Tensor, labels: torch.Tensor, window: int, classes: int = 10) -> list[dict[str, Any]]:
    """Per window of `window` presentations: accuracy voted with the previous window's assignments
    (None for the first), neurons never fired through the window's end, mean spikes per image."""
    rows = []
    fired = torch.zeros(counts.shape[1], dtype=torch.bool)
    for w, start in enumerate(range(0, len(counts), window)):
        c, y = counts[start:start + window], labels[start:start + window]
        acc = None
        if w > 0:
            prev = slice(start - window, start)
            assignments, _ = assign_labels(counts[prev], labels[prev], classes)
            acc = round(100 * float((predict(c, assignments, classes) == y).float().mean()), 2)
        fired |= c.sum(0) > 0
        rows.append({"images": start + len(c), "accuracy": acc, "never_fired": int((~fired).sum()),
                     "mean_spikes": round(float(c.sum(1).mean()), 2)})
    return rows


def write(result: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "dc_early.json").write_text(json.dumps(result, indent=1) + "\n")
    sides = list(result["curves"])
    lines = [f"# Diehl & Cook early learning, {result['neurons']} neurons, the first {result['images']} MNIST "
             f"training images", "",
             f"Running accuracy per window of {result['window']} images, voted with the previous window's "
             "assignments (BindsNET's eth_mnist measure); never fired = neurons silent through the window's "
             "end. Seconds: " + ", ".join(f"{s} {result['seconds'][s]}" for s in sides) + ".", "",
             "| images | " + " | ".join(f"{s} acc %" for s in sides) + " | "
             + " | ".join(f"{s} never fired" for s in sides) + " | " + " | ".join(f"{s} spikes/img" for s in sides) + " |",
             "|---:|" + "---:|" * (3 * len(sides))]
    for i, row in enumerate(result["curves"][sides[0]]):
        r = [result["curves"][s][i] for s in sides]
        lines.append(f"| {row['images']} | " + " | ".join("—" if x["accuracy"] is None else f"{x['accuracy']:.1f}" for x in r)
                     + " | " + " | ".join(str(x["never_fired"]) for x in r) + " | "
                     + " | ".join(f"{x['mean_spikes']:.1f}" for x in r) + " |")
    (out / "dc_early.md").write_text("\n".join(lines) + "\n")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    for s in sides:
        rows = result["curves"][s]
        a.plot([r["images"] for r in rows if r["accuracy"] is not None],
               [r["accuracy"] for r in rows if r["accuracy"] is not None], marker="o", label=s)
        b.plot([r["images"] for r in rows], [r["never_fired"] for r in rows], marker="o", label=s)
    a.set(xlabel="training images seen", ylabel="running accuracy, %", title="accuracy (previous window's labels)")
    b.set(xlabel="training images seen", ylabel="neurons", title="neurons never fired so far")
    a.legend()
    a.grid(alpha=0.3)
    b.grid(alpha=0.3)
    fig.suptitle(f"Diehl & Cook, {result['neurons']} excitatory neurons, learning from image 1")
    fig.tight_layout()
    fig.savefig(out / "dc_early.png", dpi=120)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=2000, help="the first N training images")
    ap.add_argument("--neurons", type=int, default=400, help="excitatory neurons")
    ap.add_argument("--window", type=int, default=250, help="images per accuracy window")
    ap.add_argument("--sides", default=",".join(SIDES), help=f"comma list of: {', '.join(SIDES)}")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data-dir", default="../shared/data/mnist")
    ap.add_argument("--out", required=True, type=Path)
    a = ap.parse_args()
    try:
        sides = comma_items("--sides", a.sides)
        bad = [s for s in sides if s not in SIDES]
        if bad:
            raise SpikefaError(f"--sides {bad[0]!r} is not a side; use some of {', '.join(SIDES)}")
        for flag, v in (("--images", a.images), ("--neurons", a.neurons), ("--window", a.window)):
            if v < 1:
                raise SpikefaError(f"{flag} {v} must be >= 1")
        splits = load_dataset("mnist", a.data_dir)
    except SpikefaError as e:
        ap.exit(2, f"dc_early: error: {e}\n")
    x, y = splits.x_train[:a.images].flatten(1).float(), splits.y_train[:a.images]
    p = DiehlCookParams(n_exc=a.neurons)
    makers = {"b1": lambda: spikefa_side(p, 1, a.seed),
              "b1-noboost": lambda: spikefa_side(DiehlCookParams(n_exc=a.neurons, max_boosts=0), 1, a.seed),
              "b1-delay2": lambda: spikefa_side(DiehlCookParams(n_exc=a.neurons, inhibition_delay_ms=2.0), 1, a.seed),
              "b64": lambda: spikefa_side(p, 64, a.seed),
              "bindsnet": lambda: bindsnet_side(p, a.seed)}
    result: dict[str, Any] = {"neurons": a.neurons, "images": len(x), "window": a.window, "seed": a.seed,
                              "params": p.as_dict(), "curves": {}, "seconds": {}, "failed": {},
                              "load_before": os.getloadavg()}
    for side in sides:
        start = time.perf_counter()
        try:
            counts = makers[side]()(x)
        except Exception as exc:  # a peer that fails to import or run is a row with its reason
            result["failed"][side] = f"{type(exc).__name__}: {exc}".splitlines()[0]
            print(f"{side}: failed ({result['failed'][side]})", file=sys.stderr, flush=True)
            continue
        result["seconds"][side] = round(time.perf_counter() - start, 1)
        result["curves"][side] = running_curve(counts, y, a.window)
        last = result["curves"][side][-1]
        print(f"{side}: {result['seconds'][side]} s, last window {last['accuracy']} %, "
              f"never fired {last['never_fired']}", flush=True)
    result["load_after"] = os.getloadavg()
    if not result["curves"]:
        ap.exit(1, "dc_early: every side failed\n")
    write(result, a.out)
    print((a.out / "dc_early.md").read_text(), end="")


if __name__ == "__main__":
    main()
