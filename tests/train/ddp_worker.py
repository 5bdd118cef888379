"""Worker for ``test_ddp.py``, launched by ``torchrun``: trains configs through ``spikefa.train.train``.

Usage: ``torchrun --nproc_per_node N ddp_worker.py OUT SPEC [SPEC ...]``, where a SPEC is
``RULE:FEEDBACK`` or ``RULE:FEEDBACK:BATCH:LIMIT`` (global batch size, training examples kept).
Rank 0 writes the run directory ``OUT/<spec with - for :>`` (the harness does that). Every rank
also saves ``OUT/<name>.rank<r>.pt``: its model state and feedback matrices right after
the model is built (before DDP broadcasts anything) and after every epoch, so the test can check
that all ranks hold the same feedback.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import torch
from torch import nn

import spikefa.train.run as run
from spikefa.rules.alignment import rule_layers
from spikefa.train import RunConfig, train
from spikefa.train.ddp import DistInfo, shutdown


def config_for(spec: str) -> RunConfig:
    """The run both the 1-process and the N-process side train (by default 10 global batches of 32)."""
    rule, feedback, batch, limit = (spec.split(":") + ["32", "320"])[:4]
    return RunConfig(model="mlp-2x800-tanh", rule=rule, feedback=feedback, dataset="digits", epochs=2,
                     batch_size=int(batch), limit_train=int(limit), optimizer="sgd", lr=0.05, momentum=0.9,
                     align_every=3)


def snapshot(model: nn.Module) -> dict[str, Any]:
    return {"state": {k: v.detach().clone() for k, v in model.state_dict().items()},
            "feedback": [fb.detach().clone() for _, _, fb in rule_layers(model) if fb is not None]}


def run_config(out: Path, spec: str, rank: int) -> None:
    """Train through the real harness; ``make_model`` is wrapped only to observe the model."""
    built: list[nn.Module] = []
    snaps: dict[str, Any] = {"epochs": []}
    make_model = run.make_model

    def observe(*args: Any, **kwargs: Any) -> nn.Module:
        built.append(make_model(*args, **kwargs))
        snaps["initial"] = snapshot(built[-1])
        return built[-1]

    run.make_model = observe
    try:
        train(config_for(spec), out / spec.replace(":", "-"), progress=False,
              on_epoch=lambda row: snaps["epochs"].append(snapshot(built[-1])))
    finally:
        run.make_model = make_model
    torch.save(snaps, out / f"{spec.replace(':', '-')}.rank{rank}.pt")


def main(argv: list[str]) -> None:
    out = Path(argv[0])
    info = DistInfo(int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1")))
    for spec in argv[1:]:
        run_config(out, spec, info.rank)
    shutdown(info)


if __name__ == "__main__":
    main(sys.argv[1:])
