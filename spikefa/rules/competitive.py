"""Competitive Hebbian rules that learn features, as registered rules:

- ``krotov``  Krotov & Hopfield (2019, PNAS 116:7723), "Unsupervised learning by competing hidden
  units": the hidden layers learn by ranking-based global inhibition (the most active unit
  Hebbian, the k-th most active anti-Hebbian with strength Δ) in the Lebesgue-p geometry, their
  weights converging to the unit p-sphere; the step is scaled to a largest entry ε, ε annealed
  linearly to 0 over ``local_epochs`` (their public code). Read-out: the network's power-law
  activation relu(u)^n (the ``krotov`` card) and a linear layer.
- ``softhebb``  Journé, Garcia Rodriguez, Guo & Moraitis (ICLR 2023), "Hebbian deep learning without
  feedback": soft winner-take-all y = softmax(u/τ), Δw = y·(x − u·w) with the anti-Hebbian variant,
  on Linear and Conv2d layers, trained without feedback or target (layers together or greedily),
  with the reference code's initialization (norm ``radius``) and adaptive rate; ``lr`` and
  ``temperature`` take one value per local layer (comma list) as the reference sets them per block.

Both train the last ``nn.Linear`` (the read-out) by the gradient of the cross-entropy through the
run's optimiser, in every epoch (during the local epochs it follows the moving features) (the papers: Krotov & Hopfield a tanh unit with the loss Σ|c − t|^m, m = 6;
SoftHebb cross-entropy; spikefa uses cross-entropy for both). ``frozen = true`` keeps the local
layers at their initialization: the random-feature control, same network, read-out and budget.
The learners are in `spikefa.nn.competitive`.
"""

from __future__ import annotations

import math

from torch import nn

from spikefa.errors import SpikefaError
from spikefa.functional.feedback import derive_seed
from spikefa.nn.competitive import CompetitiveLearner, KrotovPlasticity, SoftHebbPlasticity, local_layer_count
from spikefa.rules.spec import Option, Request, Rule

_INIT_SEED = 4001  # the local layers' initialization stream (derive_seed of the run seed)

_COMMON = {
    "local_epochs": Option(1, int, "epochs of local (unsupervised) learning; the rate anneals over them, then the "
                           "local layers stay fixed while the read-out keeps learning", minimum=1),
    "frozen": Option(False, bool, "keep the local layers at their initialization (the random-feature control)"),
    "init": Option("paper", ("paper", "model"), "initialize the local layers as the rule's reference code does "
                   "(paper), or keep the model's own weights (model)"),
    "local_batch": Option(0, int, "the local rule's minibatch: each batch is presented in chunks of this many "
                          "samples, the local layers updating after each (0: the run's batch)", minimum=0),
}


def _learner(model: nn.Module, req: Request, plasticity: KrotovPlasticity | list[SoftHebbPlasticity], rule: str,
             schedule: str = "together") -> nn.Module:
    o = req.options
    return CompetitiveLearner(model, plasticity, rule, seed=derive_seed(req.seed, _INIT_SEED),
                              local_epochs=o["local_epochs"], schedule=schedule,  # type: ignore[arg-type]
                              frozen=o["frozen"], init=o["init"] == "paper", local_batch=o["local_batch"])


def _krotov(model: nn.Module, req: Request) -> nn.Module:
    o = req.options
    plasticity = KrotovPlasticity(p=o["p"], k=o["k"], delta=o["delta"], lr=o["lr"], sigma=o["sigma"])
    return _learner(model, req, plasticity, "krotov")


def _per_layer(key: str, text: str, n: int, zero: bool = False) -> list[float]:
    """One positive number for all ``n`` local layers, or ``n`` of them comma-separated; with
    ``zero``, a layer may take 0 (but not every layer)."""
    try:
        values = [float(v) for v in str(text).split(",")]
    except ValueError:
        values = []
    least = "≥ 0" if zero else "> 0"
    if len(values) not in (1, n) or not all(math.isfinite(v) and (v > 0 or (zero and v == 0)) for v in values):
        raise SpikefaError(f"rule 'softhebb' option {key}={text!r} is not allowed; expected one number {least}, or {n} "
                           "comma-separated (one per local layer, input side first)")
    if not any(values):
        raise SpikefaError(f"rule 'softhebb' option {key}={text!r} keeps every local layer at its initialisation; "
                           "use --opt frozen=true for the random-feature control")
    return values * n if len(values) == 1 else values


def _softhebb(model: nn.Module, req: Request) -> nn.Module:
    o = req.options
    n = local_layer_count(model, "softhebb")
    rates, temperatures = _per_layer("lr", o["lr"], n, zero=True), _per_layer("temperature", o["temperature"], n)
    plasticity = [SoftHebbPlasticity(temperature=t, anti_hebbian=o["anti_hebbian"], lr=lr, adaptive=o["adaptive"],
                                     lr_power=o["lr_power"], radius=o["radius"]) for lr, t in zip(rates, temperatures)]
    return _learner(model, req, plasticity, "softhebb", o["schedule"])


def competitive_rules() -> list[Rule]:
    """The competitive Hebbian rules, in registry order."""
    return [
        Rule("krotov", "Krotov & Hopfield: competing hidden units (rank-k anti-Hebbian, p-norm), linear read-out",
             "Krotov & Hopfield 2019, PNAS 116:7723", (), None, _krotov,
             {"p": Option(3.0, float, "Lebesgue norm of the weights (the overlap <W,x> uses |W|^(p-2) W)", minimum=2),
              "k": Option(7, int, "ranking: the k-th most active unit learns anti-Hebbian", minimum=2),
              "delta": Option(0.4, float, "strength of the anti-Hebbian learning (Δ)"),
              "lr": Option(0.04, float, "initial local rate ε0 (largest weight change per step), annealed to 0"),
              "sigma": Option(1.0, float, "initial weights ~ N(0, sigma²) (the reference code: 1)", minimum=1e-6),
              **_COMMON},
             takes=("rate",), layers=(nn.Linear,), online=True, ends_epochs=True),
        Rule("softhebb", "SoftHebb: soft winner-take-all Hebbian layers without feedback, linear read-out",
             "Journé, Garcia Rodriguez, Guo & Moraitis 2023 (ICLR)", (), None, _softhebb,
             {"temperature": Option("1.0", str, "softmax temperature τ of the soft winner-take-all: one number, or "
                                    "one per local layer (comma-separated)"),
              "anti_hebbian": Option(True, bool, "every unit but the winner learns anti-Hebbian (the paper's variant)"),
              "lr": Option("0.08", str, "local rate η0: one number, or one per local layer (comma-separated); "
                           "0 keeps that layer at its initialisation"),
              "adaptive": Option(True, bool, "per-unit rate η0·|‖w‖−1|^lr_power (reference code), else η0 annealed"),
              "lr_power": Option(0.5, float, "exponent of the adaptive rate"),
              "radius": Option(25.0, float, "initial L2 norm of each unit's weights (reference code)", minimum=1e-6),
              "schedule": Option("together", ("together", "greedy"), "local layers learn in the same epochs, or "
                                 "one after the other (local_epochs each; the reference code's default, "
                                 "'successive')"),
              **_COMMON},
             takes=("rate",), layers=(nn.Linear, nn.Conv2d), online=True, ends_epochs=True),
    ]
