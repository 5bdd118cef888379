"""Train the R-STDP decision layer of a conv-stdp run on cached features, image by image.

    OMP_NUM_THREADS=1 python benchmarks/rstdp_probe.py RUN_DIR --epochs 10 [--threshold 0.1] \
        [--opt r_plus=0.004 --opt adaptive=false ...] [--out FILE.json]

RUN_DIR is a finished `spikefa train --rule conv-stdp --opt readout=rstdp` run whose feature layers
have learned (its first `decision_from` epochs, e.g. `--epochs 2` on the `conv-stdp-rstdp` card). The
feature layers are fixed from then on, so their output spike times are computed once for the run's
train / validation / test splits; the decision layer (its weights as the run left them) then learns
by `RewardLearner.reward_step` image by image in a shuffled order, exactly as the harness trains it,
without recomputing the features each epoch. `--threshold` sets the decision layer's θ, `--opt` any
`RewardSTDP` field. Prints the training error and validation / test accuracy per epoch and the epoch
validation chooses; `--out` keeps them. The random-feature control is the same command on the
`--opt frozen=true` run. Bad input: one line, exit 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import torch

from spikefa._args import rule_options
from spikefa.errors import SpikefaError
from spikefa.nn.conv_stdp import RewardLearner, SpikingConv, init_paper
from spikefa.rules.registry import get_rule
from spikefa.runs.model import load_run
from spikefa.train.run import prepare_data


def reward_fields(current: object, pairs: list[str] | None) -> dict[str, object]:
    """``--opt`` pairs as `RewardSTDP` fields, each checked and typed by the conv-stdp rule's own option."""
    rule = get_rule("conv-stdp")
    names = [f.name for f in dataclasses.fields(current)]  # type: ignore[arg-type]
    out: dict[str, object] = {}
    for key, text in rule_options(pairs).items():
        if key not in names:
            raise SpikefaError(f"--opt {key}: not a RewardSTDP field ({', '.join(names)})")
        out[key] = rule.options[key].parse(rule.name, key, text)
    return out


@torch.no_grad()
def cached(learner: RewardLearner, x: torch.Tensor, batch_size: int = 250) -> torch.Tensor:
    """The decision layer's input spike times for images x, batch by batch."""
    body = learner.model[:learner.decision_at]
    return torch.cat([body(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])


@torch.no_grad()
def accuracy(learner: RewardLearner, h: torch.Tensor, y: torch.Tensor, batch_size: int = 250) -> float:
    right = sum(int((learner.decide(h[i:i + batch_size])[0].argmax(1) == y[i:i + batch_size]).sum())
                for i in range(0, len(h), batch_size))
    return right / len(h)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--threshold", type=float, default=None, help="the decision layer's θ (default: the run's)")
    ap.add_argument("--kernel", type=int, default=None, help="a fresh decision layer with this kernel size, drawn "
                    "as the rule draws it (default: the run's layer)")
    ap.add_argument("--opt", action="append", metavar="KEY=VALUE", help="a RewardSTDP field (repeatable)")
    ap.add_argument("--no-inhibition", action="store_true", help="the feature layers pass on every threshold "
                    "crossing, without lateral inhibition (SpikingConv.inhibition = False)")
    ap.add_argument("--cache", type=Path, default=None, help="keep the features in this file (reused when it exists)")
    ap.add_argument("--seed", type=int, default=0, help="the presentation order's seed")
    ap.add_argument("--out", type=Path, default=None)
    a = ap.parse_args()
    if a.epochs < 1 or (a.threshold is not None and not a.threshold > 0):
        ap.exit(2, "rstdp_probe: error: --epochs must be >= 1 and --threshold > 0\n")
    try:
        run = load_run(a.run)
        learner = run.model
        if not isinstance(learner, RewardLearner):
            raise SpikefaError(f"{a.run}: not a conv-stdp run with readout='rstdp' (rule {run.config.rule!r})")
        learner.reward = dataclasses.replace(learner.reward, **reward_fields(learner.reward, a.opt))
    except (SpikefaError, TypeError) as e:
        ap.exit(2, f"rstdp_probe: error: {e}\n")
    layer = learner.model[learner.decision_at]
    if a.kernel is not None:
        layer = SpikingConv(layer.in_channels, layer.out_channels, a.kernel, layer.threshold, layer.steps, layer.output)
        init_paper(layer, torch.Generator().manual_seed(a.seed))
        learner.model[learner.decision_at] = layer
    if a.threshold is not None:
        layer.threshold = a.threshold
    if a.no_inhibition:
        for m in learner.model[:learner.decision_at]:
            if isinstance(m, SpikingConv):
                m.inhibition = False
    start = time.perf_counter()
    data = prepare_data(run.config)
    if a.cache is not None and a.cache.exists():
        try:
            h_train, h_val, h_test = torch.load(a.cache)
        except Exception as e:  # noqa: BLE001 - any unreadable file is the user's input
            ap.exit(2, f"rstdp_probe: error: --cache {a.cache}: not a feature cache this script wrote "
                       f"({type(e).__name__}: {e})\n")
        if [len(h) for h in (h_train, h_val, h_test)] != [len(data.y_train), len(data.y_val), len(data.y_test)]:
            ap.exit(2, f"rstdp_probe: error: --cache {a.cache}: its split sizes differ from {a.run}'s; "
                       "give another --cache file\n")
    else:
        h_train, h_val, h_test = (cached(learner, x) for x in (data.x_train, data.x_val, data.x_test))
        if a.cache is not None:
            torch.save((h_train, h_val, h_test), a.cache)
    feature_s = time.perf_counter() - start
    print(f"features {tuple(h_train.shape[1:])} for {len(h_train)} / {len(h_val)} / {len(h_test)} images cached in "
          f"{feature_s:.0f} s; decision {layer.kernel_size} θ = {layer.threshold:g}; {learner.reward}",
          file=sys.stderr, flush=True)
    gen = torch.Generator().manual_seed(a.seed)
    rows = [{"epoch": 0, "train_error": float("nan"), "val": accuracy(learner, h_val, data.y_val),
             "test": accuracy(learner, h_test, data.y_test)}]
    for epoch in range(1, a.epochs + 1):
        order = torch.randperm(len(h_train), generator=gen).tolist()
        right = sum(learner.reward_step(h_train[i:i + 1], data.y_train[i:i + 1]) for i in order)
        rows.append({"epoch": epoch, "train_error": 1.0 - right / len(order),
                     "train_fixed": accuracy(learner, h_train[:1000], data.y_train[:1000]),
                     "val": accuracy(learner, h_val, data.y_val),
                     "test": accuracy(learner, h_test, data.y_test), "factors": learner.factors.tolist(),
                     "seconds": time.perf_counter() - start})
        print(" ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in rows[-1].items()),
              flush=True)
    best = max(rows[1:], key=lambda r: (r["val"], -r["epoch"]))
    print(f"chosen on validation: epoch {best['epoch']}, val {100 * best['val']:.2f} %, "
          f"test {100 * best['test']:.2f} %",
          flush=True)
    if a.out is not None:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps({"run": str(a.run), "threshold": layer.threshold, "kernel": layer.kernel_size[0],
                                     "reward": dataclasses.asdict(learner.reward), "rows": rows, "chosen": best,
                                     "feature_seconds": feature_s}, indent=1))


if __name__ == "__main__":
    main()
