"""Convert your own ``nn.Sequential`` to a biologically plausible rule and train it as usual.

``spikefa.convert`` swaps the error that reaches each layer (feedback alignment, sign symmetry,
direct feedback alignment); the training loop stays the plain ``loss.backward();
optimizer.step()``. The same network is trained on scikit-learn's 8x8 digits with backprop and
three rules, and the test accuracies are printed and saved to ``accuracies.json``.

Run: ``python examples/01_convert_your_model.py [--fast] [--out DIR]``
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

import spikefa
from spikefa.data import load_dataset

# rule -> feedback kind (None: the rule's only choice); see spikefa.rules.FEEDBACK_KINDS
RULES = {"bp": None, "fa": "random", "sign": "sign", "dfa": "random"}


def my_model() -> nn.Sequential:
    """Any flat nn.Sequential of Linear/Conv2d layers and activations will do."""
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 256), nn.Tanh(), nn.Linear(256, 128), nn.Tanh(),
                         nn.Linear(128, 10))


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


def train(rule: str, feedback: str | None, epochs: int, limit: int | None = None, seed: int = 0) -> float:
    data = load_dataset("digits")
    x_train, y_train = data.x_train[:limit], data.y_train[:limit]
    torch.manual_seed(seed)
    model = spikefa.convert(my_model(), rule=rule, feedback=feedback, seed=seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    order = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        model.train()
        for idx in torch.randperm(len(x_train), generator=order).split(32):
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x_train[idx]), y_train[idx])
            loss.backward()  # FA/sign/DFA layers send their own error signal backwards here
            optimizer.step()
    return accuracy(model, data.x_test, data.y_test)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="one epoch on 320 examples, a smoke test")
    parser.add_argument("--out", type=Path, default=Path("runs/examples/01_convert_your_model"))
    args = parser.parse_args()
    epochs, limit = (1, 320) if args.fast else (20, None)
    if args.fast:
        print(f"--fast: a smoke test ({epochs} epoch on {limit} examples); the accuracies below only show "
              "that the code runs, not how the rules compare (run without --fast: 20 epochs, all examples)")
    results = {}
    for rule, feedback in RULES.items():
        results[rule] = train(rule, feedback, epochs, limit)
        print(f"{rule:5s} feedback={feedback or '-':7s} test accuracy {results[rule]:.3f}")
    args.out.mkdir(parents=True, exist_ok=True)
    record = {"epochs": epochs, "limit_train": limit, "smoke_test": args.fast, "test_accuracy": results}
    (args.out / "accuracies.json").write_text(json.dumps(record, indent=2))
    print(f"wrote {args.out / 'accuracies.json'}")


if __name__ == "__main__":
    main()
