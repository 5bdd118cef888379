"""Direct feedback alignment (Nøkland 2016) on sequential networks.

The network is split into blocks, each starting at a trainable layer (``nn.Linear`` or
``nn.Conv2d``) and holding the parameter-free modules after it (activation, pooling, flatten).
In training the input of every block is detached, so the graph is cut between blocks and no
error travels through the forward weights. The output error e = ∂L/∂y reaches hidden block l
as e·B_l, injected at the block's *output* h_l and passed back through the block's own
activation and pooling: δ_l = (e·B_l) ⊙ f'(a_l). For a convolutional block, B_l has shape
``[classes, C_l, H_l, W_l]`` (one full-size projection onto the block's output map).

Each hidden block gets an independent, seeded B_l. For the sign-congruent kinds the reference
whose sign is taken is the product of the downstream forward weights W_L ⋯ W_{l+1} (shape
``[classes, n_l]``), the matrix that backprop would use if every activation were linear; this
needs linear downstream layers.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from spikefa.errors import SpikefaError
from spikefa.functional.feedback import derive_seed, effective_feedback, get_kind, init_fixed
from spikefa.functional.autograd import DFAInject
from spikefa.functional.hebbian import hebb

TRAINABLE = (nn.Linear, nn.Conv2d)


def split_blocks(model: nn.Sequential) -> list[nn.Sequential]:
    """Cut a flat ``nn.Sequential`` into blocks that each start at a trainable layer."""
    blocks: list[list[nn.Module]] = []
    lead: list[nn.Module] = []
    for m in model:
        if isinstance(m, TRAINABLE):
            blocks.append(lead + [m])
            lead = []
        elif blocks:
            blocks[-1].append(m)
        else:
            lead.append(m)
    if len(blocks) < 2:
        raise SpikefaError("DFA needs at least two trainable layers (nn.Linear/nn.Conv2d) in the model")
    return [nn.Sequential(*b) for b in blocks]


def trainable_layer(block: nn.Module) -> nn.Module:
    """The block's first Linear/Conv2d."""
    return next(m for m in block.modules() if isinstance(m, TRAINABLE))


class DFAFeedback(nn.Module):
    """The feedback of one hidden block: fixed part, scale, seed and step counter as buffers."""

    def __init__(self, kind: str, shape: tuple[int, ...], seed: int, scale: float, dist: str) -> None:
        super().__init__()
        self.kind = get_kind(kind)
        self.register_buffer("scale", torch.tensor(float(scale)))
        self.register_buffer("seed", torch.tensor(int(seed), dtype=torch.int64))
        self.register_buffer("step", torch.zeros((), dtype=torch.int64))
        self.register_buffer("fixed", init_fixed(self.kind, shape, seed, dist, scale))

    def matrix(self, reference: torch.Tensor | None) -> torch.Tensor:
        return effective_feedback(self.kind, self.fixed, reference, self.scale, self.seed, self.step)

    def extra_repr(self) -> str:
        return f"kind={self.kind.name}"


def _block_shapes(blocks: Sequence[nn.Module], input_shape: tuple[int, ...] | None) -> list[tuple[int, ...]]:
    """Output shape (without batch) of every block, from a dry run or from the Linear sizes."""
    if input_shape is None:
        shapes = []
        for b in blocks:
            if any(not isinstance(m, (nn.Linear, nn.Flatten, nn.ReLU, nn.Tanh, nn.Sigmoid, nn.Identity,
                                      nn.Dropout, nn.LeakyReLU, nn.GELU, nn.ELU)) for m in b):
                raise SpikefaError("DFA on this model needs input_shape=(C, H, W) to size the feedback")
            shapes.append((trainable_layer(b).out_features,))
        return shapes
    x = torch.zeros(1, *input_shape, device=next(blocks[0].parameters()).device)
    shapes = []
    with torch.no_grad():
        for b in blocks:
            was = b.training
            b.eval()
            x = b(x)
            b.train(was)
            shapes.append(tuple(x.shape[1:]))
    return shapes


class DFASequential(nn.Module):
    """A sequential network trained by direct feedback alignment; plain forward in eval mode."""

    def __init__(self, blocks: Sequence[nn.Module], feedback: str = "random", seed: int = 0,
                 input_shape: tuple[int, ...] | None = None, scale: float | None = None,
                 dist: str = "gaussian") -> None:
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.feedback_kind = get_kind(feedback)
        self.exact = False  # diagnostics: an uncut forward whose backward is backprop's
        shapes = _block_shapes(self.blocks, input_shape)
        classes = int(torch.tensor(shapes[-1]).prod())
        if self.feedback_kind.sign_congruent:
            self._check_linear_chain(shapes)
        fbs = []
        for i, shape in enumerate(shapes[:-1]):
            nxt = trainable_layer(self.blocks[i + 1]).weight.detach()
            s = float(nxt.float().std()) if scale is None else float(scale)
            fbs.append(DFAFeedback(feedback, (classes, *shape), derive_seed(seed, i), s, dist))
        self.feedbacks = nn.ModuleList(fbs)
        self.plastic_lr = 0.0  # > 0: B_l learns by Hebb's rule on (h_l, output) (HL x DFA)

    def _learn_feedback(self, hidden: list[torch.Tensor], out: torch.Tensor) -> None:
        """ΔB_l = η · o h_lᵀ (batch mean): B_l drifts toward the output-hidden correlation,
        which for a linear map o = W h is W·E[h hᵀ], sign-congruent with W."""
        with torch.no_grad():
            for fb, h in zip(self.feedbacks, hidden):
                o = out.detach().reshape(out.shape[0], -1).to(fb.fixed.dtype)
                dB = hebb(h.detach().reshape(h.shape[0], -1).to(fb.fixed.dtype), o).view_as(fb.fixed)
                fb.fixed = fb.fixed + self.plastic_lr * dB

    def _check_linear_chain(self, shapes: list[tuple[int, ...]]) -> None:
        for b, shape in zip(list(self.blocks)[1:], shapes[:-1]):
            if not isinstance(trainable_layer(b), nn.Linear) or len(shape) != 1:
                raise SpikefaError(
                    f"DFA feedback {self.feedback_kind.name!r} takes the sign of the product of downstream "
                    "weights, which needs linear layers after every hidden block; use 'random' or 'binary'"
                )

    def downstream_product(self, index: int) -> torch.Tensor:
        """W_L ⋯ W_{index+1}: the linear map from hidden block ``index`` to the output."""
        layers = [trainable_layer(b).weight.detach() for b in list(self.blocks)[index + 1:]]
        prod = layers[-1]
        for w in reversed(layers[:-1]):
            prod = prod.matmul(w)
        return prod

    def feedback_matrix(self, index: int) -> torch.Tensor:
        """B for hidden block ``index``, shaped ``[classes, *h_index]``."""
        fb = self.feedbacks[index]
        ref = self.downstream_product(index) if fb.kind.sign_congruent else None
        return fb.matrix(ref)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.exact or not (self.training and torch.is_grad_enabled()):
            for b in self.blocks:
                x = b(x)
            return x
        hidden = []
        for b in list(self.blocks)[:-1]:
            x = b(x)
            hidden.append(x)
            x = x.detach()
        out = self.blocks[-1](x)
        feedbacks = [self.feedback_matrix(i) for i in range(len(hidden))]
        for fb in self.feedbacks:
            fb.step += 1
        if self.plastic_lr:
            self._learn_feedback(hidden, out)
        return DFAInject.apply(out, feedbacks, *hidden)
