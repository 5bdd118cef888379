"""The training harness: a run directory, a simulated crash, and a resume to the same weights.

``resolve_config`` takes a model card's preset for a rule and applies overrides; ``train`` writes
``config.json``, ``metrics.csv``, ``summary.json``, plots and an atomic ``checkpoint.pt`` after
every epoch. Here one run is stopped after epoch 1 (a stand-in for a crash) and continued with
``resume``; its final weights equal those of an uninterrupted run bit for bit, because the
checkpoint also holds the optimiser and both random-number generators.

Run: ``python examples/03_train_and_resume.py [--fast] [--out DIR]``
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path
from typing import Any

import torch

from spikefa.train import resolve_config, resume, train


class SimulatedCrash(Exception):
    pass


def crash_after_first_epoch(row: dict[str, Any]) -> None:
    """``on_epoch`` runs after the epoch's checkpoint is written; dying here loses nothing."""
    print(f"  epoch {row['epoch']}: val accuracy {row['val_accuracy']:.3f} -- simulated crash")
    raise SimulatedCrash


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="320 training examples, a smoke test")
    parser.add_argument("--out", type=Path, default=Path("runs/examples/03_train_and_resume"))
    args = parser.parse_args()
    config = resolve_config("mlp-1x800-tanh", "fa", "digits", epochs=2, feedback="random",
                            limit_train=320 if args.fast else None)
    print(f"{config.model}, rule {config.rule} ({config.feedback}), {config.epochs} epochs, "
          f"{config.optimizer} lr {config.lr}, batch {config.batch_size}")
    if args.fast:
        print("--fast: a smoke test on 320 training examples; the accuracies below only show that the code "
              "runs (what this example checks is that the resumed weights equal the uninterrupted ones)")
    for name in ("uninterrupted", "interrupted"):  # train() refuses to overwrite an existing run
        shutil.rmtree(args.out / name, ignore_errors=True)

    print("uninterrupted run:")
    train(config, args.out / "uninterrupted", progress=False)

    print("interrupted run:")
    try:
        train(config, args.out / "interrupted", progress=False, on_epoch=crash_after_first_epoch)
    except SimulatedCrash:
        pass
    summary = resume(args.out / "interrupted", epochs=2, progress=False)
    print(f"  resumed to epoch {summary['epochs']}: test accuracy {summary['test_accuracy']:.3f}")

    load = lambda name: torch.load(args.out / name / "checkpoint.pt", weights_only=False)["model"]  # noqa: E731
    a, b = load("uninterrupted"), load("interrupted")
    same = a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    print(f"final weights identical: {same}  (run directories under {args.out})")
    if not same:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
