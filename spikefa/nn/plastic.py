"""The stored feedback matrices of a converted model, with their backprop counterparts: what plastic
feedback (HL × FA, HL × DFA) trains, read by the harness to report how far B moved and how its
angle to the forward weights changed (the comparison of the FA-vs-Hebbian study's figures 9–11).

Only kinds whose B is a stored matrix count (``random``, ``binary``: the kinds plastic feedback
accepts); sign-congruent kinds and per-step redraws follow W by construction and have no B of their
own to move.
"""

from __future__ import annotations

import torch
from torch import nn

from spikefa.nn.dfa import DFASequential, trainable_layer
from spikefa.nn.layers import FeedbackMixin


def stored_feedbacks(model: nn.Module) -> dict[str, tuple[torch.Tensor, torch.Tensor | None]]:
    """``layer<i>`` -> (B as stored now (a copy), its backprop counterpart or None): FA layers in
    module order against their own weight W (same shape); DFA hidden block i against the downstream
    product W_L ⋯ W_{i+1} ([classes, n_i]; None when a downstream layer is not Linear). Empty for a
    model without stored feedback (backprop, sign symmetry, the Hebbian family)."""
    out: dict[str, tuple[torch.Tensor, torch.Tensor | None]] = {}
    fa = [m for m in model.modules() if isinstance(m, FeedbackMixin)]
    for i, m in enumerate(fa):
        fixed = getattr(m, "feedback_fixed", None)
        if fixed is not None and not m.feedback_kind.sign_congruent:
            out[f"layer{i}"] = (fixed.detach().clone(), m.weight.detach().clone())
    for net in (m for m in model.modules() if isinstance(m, DFASequential)):
        for i, fb in enumerate(net.feedbacks):
            if fb.fixed is None or fb.kind.sign_congruent:
                continue
            linear = all(isinstance(trainable_layer(b), nn.Linear) for b in list(net.blocks)[i + 1:])
            ref = net.downstream_product(i) if linear and fb.fixed.dim() == 2 else None
            out[f"layer{i}"] = (fb.fixed.detach().clone(), None if ref is None else ref.clone())
    return out
