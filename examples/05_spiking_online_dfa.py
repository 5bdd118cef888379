"""Train a spiking network two ways — snnTorch surrogate-gradient BPTT and online DFA — with the
same loop, on rate-coded digits, and compare accuracy and the memory one step needs.

The network is the ``snn-1x800-lif`` card (snnTorch ``Leaky`` neurons: β, threshold, reset mode
and dt stated in the card), fed by a seeded Bernoulli rate encoder, T time steps. BPTT backpropagates
through all T steps; online DFA walks forward once, broadcasting the output error through fixed
random matrices at every step and combining it with eligibility traces, so its memory does not
grow with T. Writes ``results.json``.

Run: ``python examples/05_spiking_online_dfa.py [--fast] [--out DIR]``
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import torch
import torch.nn.functional as F

import spikefa
from spikefa.catalog import load_card
from spikefa.data import load_dataset
from spikefa.functional.encoders import RateEncoder
from spikefa.nn.online import EncodedSNN
from spikefa.train.bench_spiking import peak_bytes


def train(rule: str, epochs: int, time_steps: int, data, limit: int | None = None) -> tuple[float, int]:  # type: ignore[no-untyped-def]
    net = spikefa.build(load_card("snn-1x800-lif"), data.input_shape, data.num_classes, seed=0)
    model = EncodedSNN(spikefa.convert(net, rule, seed=0), RateEncoder(time_steps), seed=0)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    gen = torch.Generator().manual_seed(0)

    def step(x: torch.Tensor, y: torch.Tensor) -> None:
        opt.zero_grad()
        if model.local_step(x, y) is None:  # online learners set .grad themselves
            F.cross_entropy(model(x), y).backward()
        opt.step()

    for _ in range(epochs):
        model.train()
        for idx in torch.randperm(len(data.x_train), generator=gen)[:limit].split(64):
            step(data.x_train[idx], data.y_train[idx])
    model.eval()
    with torch.no_grad():
        accuracy = float((model(data.x_test).argmax(1) == data.y_test).float().mean())
    model.train()
    opt.zero_grad(set_to_none=True)
    memory = peak_bytes(lambda: step(data.x_train[:64], data.y_train[:64]), "cpu")  # the profiler kept quiet
    return accuracy, memory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="a smoke test: 1 epoch on 512 examples at T = 10 instead of 5 on all at T = 25")
    parser.add_argument("--out", type=Path, default=Path("runs/examples/05_spiking_online_dfa"))
    args = parser.parse_args()
    data = load_dataset("digits")
    if args.fast:
        print("--fast: a smoke test (1 epoch on 512 examples, T = 10); the accuracies below only show that the code runs, "
              "not how BPTT and online DFA compare (run without --fast: 5 epochs, T = 25)")
    results = {}
    for rule in ("bp", "dfa"):
        accuracy, memory = train(rule, 1 if args.fast else 5, 10 if args.fast else 25, data, 512 if args.fast else None)
        results[rule] = {"test_accuracy": accuracy, "step_peak_bytes": memory}
        print(f"{'BPTT' if rule == 'bp' else 'online DFA'}: test accuracy {100 * accuracy:.1f} %, "
              f"one step's peak memory {memory / 2**20:.1f} MiB")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps({"smoke_test": args.fast, **results}, indent=2))


if __name__ == "__main__":
    main()
