"""Feedback kinds: how the matrix B that carries the error backwards is made.

One registry serves FA (B plays the role of the layer's own weight W, same shape) and DFA
(B plays the role of the product of the downstream forward weights, shape ``[classes, *h]``).
``reference`` below is that tensor: W for FA, W_L ⋯ W_{l+1} for DFA. Sign-congruent kinds read
its sign at every step, so they follow sign changes of the forward weights (B = |B| · sign(W): a
weight of exactly 0 sends no error back).

- ``random``            fixed Gaussian (or uniform) B, std = scale (Lillicrap et al. 2016).
- ``random-sign``       fixed random magnitude |R|, sign of the reference at every step
                        (frSF, Liao et al. 2016; Moskovitz et al. 2018).
- ``binary``            fixed random ±scale (Liao et al. 2016).
- ``sign``              sign of the reference, uniform magnitude ``scale`` (uSF: sign symmetry,
                        Liao et al. 2016; Xiao et al. 2018).
- ``batch-random-sign`` magnitude redrawn every step (from a generator seeded by the layer's
                        seed and the step number, so ranks and resumed runs agree), sign of the
                        reference (brSF, Liao et al. 2016).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from spikefa.errors import SpikefaError

Init = Callable[[tuple[int, ...], torch.Generator, str], torch.Tensor]


def _standard(shape: tuple[int, ...], gen: torch.Generator, dist: str) -> torch.Tensor:
    """Unit-variance draws, Gaussian or uniform on [-√3, √3]."""
    if dist == "gaussian":
        return torch.randn(shape, generator=gen)
    if dist == "uniform":
        return (torch.rand(shape, generator=gen) * 2.0 - 1.0) * (3.0**0.5)
    raise SpikefaError(f"feedback distribution {dist!r} is unknown: use 'gaussian' or 'uniform'")


def _binary(shape: tuple[int, ...], gen: torch.Generator, dist: str) -> torch.Tensor:
    del dist
    return torch.randint(0, 2, shape, generator=gen).float() * 2.0 - 1.0


@dataclass(frozen=True)
class FeedbackKind:
    """One way of making B; ``init`` draws the fixed part (None when there is none)."""

    name: str
    description: str
    init: Init | None
    sign_congruent: bool
    redraw_every_step: bool = False


FEEDBACK_KINDS: dict[str, FeedbackKind] = {
    k.name: k
    for k in (
        FeedbackKind("random", "fixed random B (Gaussian or uniform)", _standard, False),
        FeedbackKind("random-sign", "fixed random magnitude, sign of the forward weights (frSF)", _standard, True),
        FeedbackKind("binary", "fixed random ±1 (scaled)", _binary, False),
        FeedbackKind("sign", "sign of the forward weights, uniform magnitude (uSF, sign symmetry)", None, True),
        FeedbackKind(
            "batch-random-sign",
            "magnitude redrawn every batch, sign of the forward weights (brSF)",
            None,
            True,
            redraw_every_step=True,
        ),
    )
}


def get_kind(name: str) -> FeedbackKind:
    """Look a kind up by name, with an error that lists the known ones."""
    try:
        return FEEDBACK_KINDS[name]
    except KeyError:
        known = ", ".join(FEEDBACK_KINDS)
        raise SpikefaError(f"feedback kind {name!r} is unknown: use one of {known}") from None


def derive_seed(seed: int, index: int) -> int:
    """An independent, reproducible seed for layer ``index`` of a run seeded with ``seed``."""
    return (int(seed) * 0x9E3779B1 + int(index) * 0x85EBCA77 + 0x27D4EB2F) % (2**62)


def init_fixed(kind: FeedbackKind, shape: tuple[int, ...], seed: int, dist: str = "gaussian",
               scale: float = 1.0) -> torch.Tensor | None:
    """The fixed random part of B for a layer, already multiplied by ``scale`` (None for kinds
    without one), so fixed kinds cost nothing per step."""
    if kind.init is None:
        return None
    gen = torch.Generator().manual_seed(seed)
    return kind.init(tuple(shape), gen, dist) * scale


def effective_feedback(
    kind: FeedbackKind,
    fixed: torch.Tensor | None,
    reference: torch.Tensor | None,
    scale: float | torch.Tensor,
    seed: int | torch.Tensor = 0,
    step: int | torch.Tensor = 0,
) -> torch.Tensor:
    """The B used at this step, from the fixed part (pre-scaled) and, for sign kinds, the reference's sign.

    ``seed`` and ``step`` are read (a device sync for tensors) only by kinds that redraw.
    """
    if kind.redraw_every_step:
        assert reference is not None
        gen = torch.Generator().manual_seed(derive_seed(int(seed), int(step) + 1))
        mag = torch.randn(reference.shape, generator=gen).to(reference.device, reference.dtype)
        return torch.sign(reference.detach()).mul_(mag.abs_() * scale)
    if kind.sign_congruent:
        assert reference is not None
        return torch.sign(reference.detach()).mul_(sign_magnitude(fixed, scale, reference))
    assert fixed is not None
    return fixed


def sign_magnitude(fixed: torch.Tensor | None, scale: float | torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """|B| of a fixed sign-congruent kind: its fixed draws' magnitudes, or one number (0-d) for ``sign``,
    in ``like``'s dtype and device."""
    return fixed.abs() if fixed is not None else torch.as_tensor(scale, dtype=like.dtype, device=like.device)


class DeferredSign:
    """B = |B| · sign(W) of a sign-congruent FA layer (not redrawn), built in the backward pass from
    the weight the forward saved, into a scratch tensor the layer reuses step after step: the
    forward pass saves no [out, in] B (under BPTT, none for each of its T calls) and the backward
    pass allocates none (``random-sign`` still takes |B| of its fixed draws at each forward). A
    one-number |B| (``sign``) multiplies the input gradient instead of B (the cheaper side of the
    product). A forward hands its autograd Function (this builder, this step's |B|); the Function
    keeps both, so a later change of the layer's scale does not reach a pending backward. Values as
    `effective_feedback`'s."""

    def __init__(self) -> None:
        self._scratch: torch.Tensor | None = None

    def matrix(self, weight: torch.Tensor, magnitude: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(M, post): B = M · post when ``magnitude`` is one number (0-d), else B = M (post None).
        M lives in the scratch tensor until the next call."""
        s = self._scratch
        if s is None or s.shape != weight.shape or s.dtype != weight.dtype or s.device != weight.device:
            s = self._scratch = torch.empty(weight.shape, dtype=weight.dtype, device=weight.device)
        torch.sign(weight.detach(), out=s)
        if magnitude.dim() == 0:
            return s, magnitude
        return s.mul_(magnitude), None
