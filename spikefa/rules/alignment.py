"""Alignment diagnostics: how close a rule's update is to backprop's, per layer.

Cheap by construction: no model copy. The true gradient comes from one extra forward and
backward with the model switched to exact mode (FA layers use W, DFA is not cut); both passes
use ``torch.autograd.grad``, so ``.grad`` is untouched, and every buffer (batch-norm statistics,
feedback step counters) is restored afterwards, so measuring does not change training.
"""

from __future__ import annotations

import copy
from contextlib import contextmanager
from typing import Callable, Iterator

import torch
from torch import nn

from spikefa.functional.metrics import angle_degrees
from spikefa.nn.dfa import DFASequential, trainable_layer
from spikefa.nn.layers import FeedbackMixin

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def rule_layers(model: nn.Module) -> list[tuple[str, nn.Module, torch.Tensor | None]]:
    """(name, layer, feedback B or None) for every layer that learns in a model a rule converted
    (FA / sign / DFA), converted or not (a DFA output layer, a batch norm): ``layer0``, ``layer1``,
    ... in module order. Empty for a model without feedback layers."""
    feedback: dict[int, torch.Tensor | None] = {}
    for m in model.modules():
        if isinstance(m, DFASequential):
            for i, b in enumerate(m.blocks):
                feedback[id(trainable_layer(b))] = m.feedback_matrix(i) if i < len(m.feedbacks) else None
        elif isinstance(m, FeedbackMixin):
            feedback[id(m)] = m.feedback_matrix()
    if not feedback:
        return []
    learning = [m for m in model.modules()
                if any(p.requires_grad for p in m.parameters(recurse=False)) and hasattr(m, "weight")]
    return [(f"layer{i}", m, feedback.get(id(m))) for i, m in enumerate(learning)]


@contextmanager
def exact_mode(model: nn.Module) -> Iterator[None]:
    """Temporarily make every rule layer compute backprop's gradient."""
    mods = [m for m in model.modules() if isinstance(m, (FeedbackMixin, DFASequential))]
    for m in mods:
        setattr(m, "exact_backward" if isinstance(m, FeedbackMixin) else "exact", True)
    try:
        yield
    finally:
        for m in mods:
            setattr(m, "exact_backward" if isinstance(m, FeedbackMixin) else "exact", False)


@contextmanager
def preserved_buffers(model: nn.Module) -> Iterator[None]:
    """Restore every buffer (BN statistics, step counters, a neuron's last state) and every module's
    extra state (a spike encoder's training generator) on exit, so measuring draws nothing a
    training step would have drawn."""
    saved = {n: b.detach().clone() for n, b in model.named_buffers()}
    extra = [(m, copy.deepcopy(m.get_extra_state())) for m in model.modules()
             if type(m).get_extra_state is not nn.Module.get_extra_state]
    try:
        yield
    finally:
        for m, state in extra:
            m.set_extra_state(state)
        with torch.no_grad():
            for n, b in model.named_buffers():
                if b.shape == saved[n].shape:
                    b.copy_(saved[n])
                else:  # a buffer replaced by one of another shape (snnTorch's Leaky.mem)
                    owner, _, attr = n.rpartition(".")
                    setattr(model.get_submodule(owner) if owner else model, attr, saved[n])


def _grads(model: nn.Module, loss_fn: LossFn, x: torch.Tensor, y: torch.Tensor,
           weights: list[torch.Tensor]) -> tuple[torch.Tensor, ...]:
    loss = loss_fn(model(x), y)
    return torch.autograd.grad(loss, weights, allow_unused=True)


def _reference(model: nn.Module, index: int) -> torch.Tensor | None:
    """DFA's backprop counterpart of B_index: the downstream weight product (linear chains only)."""
    for m in model.modules():
        if isinstance(m, DFASequential) and index < len(m.feedbacks):
            if all(isinstance(trainable_layer(b), nn.Linear) for b in list(m.blocks)[index + 1:]):
                return m.downstream_product(index)
    return None


def measure_alignment(model: nn.Module, loss_fn: LossFn, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    """Per rule layer: ``<layer>.update_angle`` (rule gradient vs backprop's, degrees) and
    ``<layer>.feedback_angle`` (FA: B vs W; DFA: B_l vs the downstream weight product)."""
    layers = rule_layers(model)
    if not layers:
        return {}
    weights = [m.weight for _, m, _ in layers]
    is_dfa = any(isinstance(m, DFASequential) for m in model.modules())
    with preserved_buffers(model):
        with exact_mode(model):
            true = _grads(model, loss_fn, x, y, weights)
        rule = _grads(model, loss_fn, x, y, weights)
    stats: dict[str, float] = {}
    for i, ((name, m, fb), gt, gr) in enumerate(zip(layers, true, rule)):
        if gt is not None and gr is not None:
            stats[f"{name}.update_angle"] = angle_degrees(gr, gt)
        ref = _reference(model, i) if is_dfa else m.weight
        if fb is not None and ref is not None and ref.shape == fb.shape:
            stats[f"{name}.feedback_angle"] = angle_degrees(fb, ref)
    return stats
