"""Local and mixed rules for the registry: HebbNet (Hebb / Oja), the sum rule, Hebbian descent.

- ``hebb`` / ``oja``  HebbNet training (Gupta et al. 2021): hidden layers by Hebb's rule
  ΔW = η·y·xᵀ or Oja's rule Δw = η·y·(x − y·w), the output layer by gradient descent. Options
  ``threshold`` (updated activation threshold) and ``gradient_sparsity`` with fraction ``p``
  (default 0.3) give the +T and +T+GS variants. Hidden layers step with plain SGD at
  ``local_lr`` (an adaptive optimiser would hide the rule's own dynamics, runaway growth included).
  ``frozen`` keeps the hidden layers at their initialisation (normalised once when ``unit_norm``),
  the output layer still trained: the random-feature control the harness runs beside each row.
- ``sum``  the sum rule: update = backprop gradient + β · Hebbian term (Hebb or Oja), every layer.
- ``hebbian-descent``  Melchior & Wiskott (2019): ΔW = −η·(x − μ)·(h − t)ᵀ, f' dropped, the input
  centred by its running mean μ. With cross-entropy on logits, h − t is softmax − one-hot.
  Hebbian descent is the *output* layer's rule: the derivative dropped is the output
  non-linearity's (Melchior & Wiskott 2024, Neural Computation 36(9), "an alternative weight
  update rule for the output layer wherein the derivative of the activation function is
  disregarded", used in deep networks with backpropagation below). So by default
  (``hidden_error=backprop``) the hidden layer of a two-layer net receives the output error
  through the transposed output weights times its own f', and learns from its centred input;
  ``hidden_error=no-derivative`` drops f' in the hidden layers too (the single-layer rule
  applied layer by layer). ``mode``: full (all layers), partial1 (hidden frozen), partial2
  (output frozen); ``factor``: centred, or oja (Oja's rule replaces the centred input).
"""

from __future__ import annotations

from typing import Any, Mapping

from torch import nn

from spikefa.errors import SpikefaError
from spikefa.nn.dfa import split_blocks
from spikefa.nn.local import BlockPlan, HebbianDescentLinear, LocalSequential, StraightThrough
from spikefa.rules.spec import Option, ParamGroup, Request, Rule

_ACTIVATIONS = (nn.ReLU, nn.Tanh, nn.Sigmoid, nn.LeakyReLU, nn.GELU, nn.ELU, nn.Softplus)


def _blocks(model: nn.Module, rule: str) -> list[nn.Sequential]:
    if not isinstance(model, nn.Sequential):
        raise SpikefaError(f"rule {rule!r} needs a flat nn.Sequential model, got {type(model).__name__}")
    return split_blocks(model)


def _hebbnet(kind: str):  # type: ignore[no-untyped-def]
    def convert(model: nn.Module, req: Request) -> nn.Module:
        blocks = _blocks(model, kind)
        o = req.options
        if not 0 < o["p"] <= 1:
            raise SpikefaError(f"rule {kind!r} option p={o['p']} must be in (0, 1]")
        p = o["p"] if o["gradient_sparsity"] else 1.0
        hidden = (BlockPlan("frozen") if o["frozen"]
                  else BlockPlan("hebbian", kind, threshold=o["threshold"], sparsity=p))
        plans = [hidden] * (len(blocks) - 1) + [BlockPlan("gd")]
        return LocalSequential(blocks, plans, unit_norm=o["unit_norm"])

    return convert


def _sum(model: nn.Module, req: Request) -> nn.Module:
    blocks = _blocks(model, "sum")
    plan = BlockPlan("sum", req.options["hebbian"], beta=req.options["beta"])
    return LocalSequential(blocks, [plan] * len(blocks))


def _hebbian_descent(model: nn.Module, req: Request) -> nn.Module:
    if not isinstance(model, nn.Sequential):
        raise SpikefaError(f"rule 'hebbian-descent' needs a flat nn.Sequential model, got {type(model).__name__}")
    linears = [i for i, m in enumerate(model) if isinstance(m, nn.Linear)]
    if len(linears) < 1 or any(isinstance(m, nn.Conv2d) for m in model):
        raise SpikefaError("rule 'hebbian-descent' takes fully connected (nn.Linear) networks; use an mlp card")
    mode, factor, hidden = req.options["mode"], req.options["factor"], req.options["hidden_error"]
    frozen = {"full": set(), "partial1": set(linears[:-1]), "partial2": {linears[-1]}}[mode]
    for i, m in enumerate(list(model)):
        if isinstance(m, nn.Linear):
            if i in frozen:
                for p in m.parameters():
                    p.requires_grad_(False)
            else:
                model[i] = HebbianDescentLinear(m, factor)
        elif isinstance(m, _ACTIVATIONS) and hidden == "no-derivative":
            model[i] = StraightThrough(m)
    return model


_HEBBNET_OPTIONS = {
    "threshold": Option(False, bool, "HebbNet +T: post activity relu(y − θ), θ a running mean per unit"),
    "gradient_sparsity": Option(False, bool, "HebbNet +GS: update only the fraction p of entries with largest |ΔW|"),
    "p": Option(0.3, float, "the fraction of weight entries updated per step under gradient sparsity"),
    "local_lr": Option(1e-3, float, "SGD learning rate of the Hebbian (hidden) layers"),
    "unit_norm": Option(False, bool, "rescale each Hebbian unit's weights (and bias) to unit norm before every step"),
    "frozen": Option(False, bool, "keep the Hebbian layers at their (unit-norm, if asked) initialisation: the "
                     "random-feature control"),
}


def _local_groups(model: nn.Module, options: Mapping[str, Any]) -> list[ParamGroup]:
    """The Hebbian layers step by plain SGD at ``local_lr`` (an adaptive optimiser would hide the
    rule's dynamics); the output layer takes the run's optimiser."""
    params = [p for m in model.modules() if isinstance(m, LocalSequential) for p in m.local_parameters()]
    return [ParamGroup(params, float(options["local_lr"]))] if params else []


def local_rules() -> list[Rule]:
    """The Hebbian-family rules, in registry order."""
    return [
        Rule("hebb", "HebbNet: hidden layers by Hebb's rule, output by gradient descent", "Hebb 1949; Gupta et al. 2021",
             (), None, _hebbnet("hebb"), _HEBBNET_OPTIONS, takes=("rate",), param_groups=_local_groups,
             layers=(nn.Linear,)),
        Rule("oja", "HebbNet with Oja's rule in the hidden layers", "Oja 1982; Gupta et al. 2021",
             (), None, _hebbnet("oja"), _HEBBNET_OPTIONS, takes=("rate",), param_groups=_local_groups,
             layers=(nn.Linear,)),
        Rule("sum", "sum rule: backprop gradient + beta x Hebbian term", "the FA vs Hebbian study we reproduce",
             (), None, _sum,
             {"beta": Option(0.01, float, "weight of the Hebbian term"),
              "hebbian": Option("hebb", ("hebb", "oja"), "which Hebbian term")}, takes=("rate",),
             layers=(nn.Linear,)),
        Rule("hebbian-descent", "Hebbian descent: -(x - mu)(h - t)^T, f' dropped", "Melchior & Wiskott 2019",
             (), None, _hebbian_descent,
             {"mode": Option("full", ("full", "partial1", "partial2"), "which layers learn"),
              "factor": Option("centred", ("centred", "oja"), "centred input, or Oja's rule in its place"),
              "hidden_error": Option("backprop", ("backprop", "no-derivative"),
                                     "how the output error reaches hidden layers: W^T e times f', or f' dropped")},
             takes=("rate",), layers=(nn.Linear,)),
    ]
