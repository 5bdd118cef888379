"""Re-assign a finished Diehl & Cook run's neuron labels from more training images and score it.

    OMP_NUM_THREADS=1 python benchmarks/dc_relabel.py RUN_DIR --label-samples 10000,50000

The STDP weights are the run's (learning off): label assignment only reads responses, so this is
what the same run trained with ``--opt label_samples=N`` reports after its last epoch. Diehl & Cook
(2015) assigned labels from the whole training set; the card's default is the first 10,000 images.
Prints validation and test accuracy per N (choose N on validation).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from spikefa.errors import SpikefaError
from spikefa.runs.model import load_run
from spikefa.train.loop import evaluate
from spikefa.train.run import prepare_data


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("--label-samples", default="10000,50000", help="comma-separated image counts")
    a = ap.parse_args()
    try:
        counts = [int(v) for v in a.label_samples.split(",")]
    except ValueError:
        ap.error(f"--label-samples {a.label_samples!r}: expected comma-separated positive integers")
    if any(n < 1 for n in counts):
        ap.error(f"--label-samples {a.label_samples!r}: every count must be >= 1")
    try:
        run = load_run(a.run)
    except SpikefaError as e:
        ap.exit(2, f"dc_relabel: error: {e}\n")
    data = prepare_data(run.config)
    learner = run.model
    for n in counts:
        start = time.perf_counter()
        learner.label_samples = n
        learner.assign_labels(data.x_train, data.y_train)
        val, _ = evaluate(learner, data.x_val, data.y_val)
        test, _ = evaluate(learner, data.x_test, data.y_test)
        print(f"label_samples {min(n, len(data.x_train))}: val {100 * val:.2f} %, test {100 * test:.2f} % "
              f"({time.perf_counter() - start:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
