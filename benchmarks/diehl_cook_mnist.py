"""STDP networks on MNIST: Diehl & Cook (2015), STDP features + delta-rule readout, three-factor STDP.

Stages (each reuses what an earlier run left in --out, so an interrupted benchmark continues):

1. ``diehl-cook``: the unsupervised network (400 excitatory neurons) trained for --epochs over the
   first --limit-train training images, labels assigned from its responses to --label-samples
   training images, all-activity vote on the validation and test splits.
2. ``readout``: the spike counts of that trained layer as features for a softmax readout trained
   by the delta rule. The feature-time constants (inhibition, one-spike) are chosen on the
   validation split among FEATURE_CANDIDATES, using --select-train training images; the chosen
   ones are then used on the whole training split. The readout epoch is chosen on validation.
3. ``three-factor``: a hidden LIF layer trained by three-factor STDP (DFA-gated eligibility) with a
   delta-rule readout, its learning rate and STDP balance chosen on the validation split among
   TF_CANDIDATES (--select-train training images each), and the same network with the hidden
   learning rate set to 0 (a control: fixed random hidden weights, readout only).

    OMP_NUM_THREADS=1 python benchmarks/diehl_cook_mnist.py --data-dir ../shared/data/mnist

writes results.json and README.md under --out. The test split plays no part in any choice.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from spikefa.data import load_dataset
from spikefa.nn.stdp import DiehlCookNet
from spikefa.schemas.stdp import DiehlCookParams, ThreeFactorParams
from spikefa.runs.checkpoint import write_json
from spikefa.train.unsupervised import train_diehl_cook, train_stdp_readout, train_three_factor

DC_PARAMS = DiehlCookParams(n_exc=400)  # 250 ms at 128 Hz, inhibition 120 mV: see spikefa.nn.stdp.diehl_cook
FEATURE_CANDIDATES: list[dict[str, Any]] = [
    {},  # the training constants: hard winner-take-all
    {"inhibition": 0.0, "one_spike": False},
    {"inhibition": 5.0, "one_spike": False},
    {"inhibition": 10.0, "one_spike": False},
]
TF_PARAMS = ThreeFactorParams(n_hidden=400)
TF_CANDIDATES: list[dict[str, Any]] = [  # learning rate x STDP balance (A- = -A+/2 or -A+)
    {"lr": lr, "a_minus": a_minus} for a_minus in (-0.5, -1.0) for lr in (1e-3, 1e-4, 1e-5)
]


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.is_file() else {}


def stage_diehl_cook(a: argparse.Namespace, data: Any, out: Path, results: dict[str, Any]) -> DiehlCookNet:
    net_path = out / "diehl_cook_net.pt"
    params = replace(DC_PARAMS, n_exc=a.n_exc)
    if "diehl_cook" in results and net_path.is_file():
        net = DiehlCookNet(params, data.num_classes, a.seed)
        net.load_state_dict(torch.load(net_path))
        return net
    net, summary = train_diehl_cook(data, params, epochs=a.epochs, batch_size=a.batch_size,
                                    limit_train=a.limit_train, label_samples=a.label_samples, seed=a.seed,
                                    checkpoint=out / "diehl_cook.ckpt", progress=not a.quiet)
    torch.save(net.state_dict(), net_path)
    results["diehl_cook"] = summary
    return net


def stage_readout(a: argparse.Namespace, data: Any, net: DiehlCookNet, results: dict[str, Any]) -> None:
    if "stdp_readout" in results:
        return
    selection = []
    for candidate in FEATURE_CANDIDATES:
        s = train_stdp_readout(data, net, feature_params=candidate, limit_train=a.select_train,
                               readout_epochs=a.readout_epochs, seed=a.seed, test=False, progress=not a.quiet)
        selection.append({"feature_params": candidate, "val_accuracy": s["val_accuracy"],
                          "seconds": s["feature_seconds"] + s["readout_seconds"]})
    best = max(selection, key=lambda r: r["val_accuracy"])["feature_params"]
    summary = train_stdp_readout(data, net, feature_params=best, readout_epochs=a.readout_epochs, seed=a.seed,
                                 limit_train=a.limit_train, progress=not a.quiet)
    summary["selection"] = selection
    results["stdp_readout"] = summary


def stage_three_factor(a: argparse.Namespace, data: Any, out: Path, results: dict[str, Any]) -> None:
    params = replace(TF_PARAMS, seed=a.seed)
    if "three_factor_selection" not in results:  # the hidden rule's constants, on validation only
        selection = []
        for candidate in TF_CANDIDATES:
            _, s = train_three_factor(data, replace(params, **candidate), batch_size=a.batch_size,
                                      limit_train=a.select_train, seed=a.seed, test=False, progress=not a.quiet)
            selection.append({"params": candidate, "val_accuracy": s["val_accuracy"],
                              "val_mean_spikes": s["val_mean_spikes"],
                              "seconds": s["train_seconds"] + s["val_seconds"]})
        results["three_factor_selection"] = selection
        write_json(out / "results.json", results)  # an interrupted run keeps its selection
    best = max(results["three_factor_selection"], key=lambda r: r["val_accuracy"])["params"]
    runs = (("three_factor", replace(params, **best)), ("three_factor_control_lr0", replace(params, lr=0.0)))
    for key, chosen in runs:
        if key in results:
            continue
        _, summary = train_three_factor(data, chosen, epochs=a.tf_epochs, batch_size=a.batch_size,
                                        limit_train=a.limit_train, seed=a.seed, checkpoint=out / f"{key}.ckpt",
                                        progress=not a.quiet)
        results[key] = summary
        write_json(out / "results.json", results)


TITLES = {"diehl_cook": "Diehl & Cook, 400 excitatory, all-activity vote",
          "stdp_readout": "STDP features (same layer) + delta-rule readout",
          "three_factor": "three-factor STDP hidden layer + delta-rule readout",
          "three_factor_control_lr0": "control: same, hidden learning rate 0"}


def _seconds(s: dict[str, Any]) -> float:
    return float(sum(v for k, v in s.items() if k.endswith("_seconds") and isinstance(v, int | float)))


def write_readme(out: Path, results: dict[str, Any]) -> None:
    """README.md from results.json: the command, the figures, the settings."""
    lines = ["# STDP networks on MNIST", "", "Produced by (one seed, CPU):", "",
             "    OMP_NUM_THREADS=1 " + results.get("command", "python benchmarks/diehl_cook_mnist.py"), "",
             "| network | val % | test % | seconds |", "| --- | --- | --- | --- |"]
    for key, title in TITLES.items():
        if key in results:
            r = results[key]
            lines.append(f"| {title} | {100 * r['val_accuracy']:.2f} | {100 * r['test_accuracy']:.2f} | "
                         f"{_seconds(r):.0f} |")
    lines += ["", "Seconds: training + label assignment + evaluation (features + readout for the readout row, "
              "which reuses the trained Diehl & Cook layer).", ""]
    if "diehl_cook" in results:
        r = results["diehl_cook"]
        st = r["settings"]
        lines += ["## Diehl & Cook", "", f"{st['n_train']} training images x {st['epochs']} epoch(s), batch "
                  f"{st['batch_size']} (exclusive firing within a batch), labels from {r['label_samples']} training "
                  f"images; train {r['train_seconds']} s, labels {r['label_seconds']} s, val {r['val_seconds']} s, "
                  f"test {r['test_seconds']} s; {r['unassigned']} neurons never fired.", "",
                  "Constants: " + ", ".join(f"{k}={v}" for k, v in st["params"].items()), ""]
    if "stdp_readout" in results:
        r = results["stdp_readout"]
        lines += ["## STDP features + readout", "", "Feature-time constants chosen on validation "
                  f"({results.get('select_train')} training images each):", "",
                  "| feature constants | val % |", "| --- | --- |"]
        for row in r.get("selection", []):
            lines.append(f"| {row['feature_params'] or 'as trained'} | {100 * row['val_accuracy']:.2f} |")
        lines += ["", f"Chosen: {r['feature_params'] or 'as trained'}; readout epoch {r['readout_epoch']} "
                  f"(of the validation curve), lr {r['readout_lr']}, weight decay {r['readout_weight_decay']}; "
                  f"features {r['feature_seconds']} s, readout {r['readout_seconds']} s.", ""]
    if "three_factor_selection" in results:
        lines += ["## Three-factor STDP: constants chosen on validation", "",
                  f"Each candidate trained on {results.get('select_train')} training images (one epoch), scored "
                  "on the validation split:", "", "| constants | val % | mean hidden spikes per image |",
                  "| --- | --- | --- |"]
        for row in results["three_factor_selection"]:
            lines.append(f"| {row['params']} | {100 * row['val_accuracy']:.2f} | {row['val_mean_spikes']} |")
        lines.append("")
    for key in ("three_factor", "three_factor_control_lr0"):
        if key in results:
            r = results[key]
            lines += [f"## {TITLES[key]}", "", f"{r['settings']['n_train']} images x {r['settings']['epochs']} "
                      f"epoch(s), train {r['train_seconds']} s. Constants: "
                      + ", ".join(f"{k}={v}" for k, v in r["settings"]["params"].items()), ""]
    env = results.get("environment", {})
    lines += ["Environment: " + ", ".join(f"{k} {v}" for k, v in env.items()), ""]
    (out / "README.md").write_text("\n".join(lines))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data-dir", required=True)
    p.add_argument("--out", default="benchmarks/results/diehl_cook_mnist")
    p.add_argument("--stages", default="diehl-cook,readout,three-factor")
    p.add_argument("--n-exc", type=int, default=400)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--tf-epochs", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--limit-train", type=int, default=None)
    p.add_argument("--label-samples", type=int, default=10000)
    p.add_argument("--select-train", type=int, default=10000)
    p.add_argument("--readout-epochs", type=int, default=30)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--quiet", action="store_true")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    results = _load(out / "results.json")
    data = load_dataset("mnist", a.data_dir)
    stages = a.stages.split(",")
    start = time.perf_counter()
    net = stage_diehl_cook(a, data, out, results) if {"diehl-cook", "readout"} & set(stages) else None
    write_json(out / "results.json", results)
    if "readout" in stages and net is not None:
        stage_readout(a, data, net, results)
        write_json(out / "results.json", results)
    if "three-factor" in stages:
        stage_three_factor(a, data, out, results)
    results["environment"] = {"torch": torch.__version__, "python": platform.python_version(),
                              "threads": a.threads, "cpu_count": os.cpu_count(), "machine": platform.machine()}
    results["command"] = "python " + " ".join(sys.argv)  # the last call; stages reuse earlier results
    results["wall_seconds_this_call"] = round(time.perf_counter() - start, 1)
    write_json(out / "results.json", results)
    results["select_train"] = a.select_train
    write_json(out / "results.json", results)
    write_readme(out, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
