"""Feedback matrices are part of a converted model's ``state_dict``: save it, load it, get them back.

FA layers keep B's fixed part, scale, seed and step counter as buffers, and DFA keeps one such
set per hidden block, so ``torch.save(model.state_dict())`` / ``load_state_dict`` round-trip the
feedback with the weights. The feedback *kind* is code, not state: convert the fresh model with
the same rule and kind, then load. Here the fresh model is converted with another seed, so its
feedback differs until the state_dict is loaded. Writes ``fa.pt`` and ``dfa.pt``.

Run: ``python examples/04_save_and_load_feedback.py [--fast] [--out DIR]``
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from torch import nn

import spikefa
from spikefa.nn import DFASequential, FALinear


def my_model() -> nn.Sequential:
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 128), nn.Tanh(), nn.Linear(128, 10))


def feedback_matrices(model: nn.Module) -> list[torch.Tensor]:
    """The B every rule layer sends its error through (FA: one per layer; DFA: one per hidden block)."""
    if isinstance(model, DFASequential):
        return [model.feedback_matrix(i) for i in range(len(model.feedbacks))]
    return [m.feedback_matrix() for m in model.modules() if isinstance(m, FALinear)]


def round_trip(rule: str, feedback: str, path: Path) -> bool:
    model = spikefa.convert(my_model(), rule=rule, feedback=feedback, seed=1)
    torch.save(model.state_dict(), path)
    fresh = spikefa.convert(my_model(), rule=rule, feedback=feedback, seed=2)  # other seed: other B
    before = [torch.equal(a, b) for a, b in zip(feedback_matrices(model), feedback_matrices(fresh))]
    fresh.load_state_dict(torch.load(path, weights_only=True))
    after = [torch.equal(a, b) for a, b in zip(feedback_matrices(model), feedback_matrices(fresh))]
    shapes = [tuple(b.shape) for b in feedback_matrices(fresh)]
    print(f"{rule}/{feedback}: feedback {shapes} equal before loading {before}, after {after}")
    return all(after) and not any(before)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="accepted for uniformity; this example is instant")
    parser.add_argument("--out", type=Path, default=Path("runs/examples/04_save_and_load_feedback"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    ok = [round_trip(rule, "random", args.out / f"{rule}.pt") for rule in ("fa", "dfa")]
    print("feedback restored: " + ("yes" if all(ok) else "NO"))
    if not all(ok):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
