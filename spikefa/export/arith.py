"""Integer arithmetic of the vendor-neutral LIF step, shared by the simulator and mirrored by the
ONNX and C writers (their tests hold them to it spike for spike).

In state units (one real scale per layer or per neuron, shared by weight, bias, threshold and
state), one step of an integer LIF neuron is

    r[t] = U[t-1] > θ                                     (reset from the previous step)
    U[t] = sat(D(U[t-1]) + I[t] − r[t]·θ)                 reset "subtract"
    U[t] = sat((r[t] ? 0 : D(U[t-1])) + I[t])             reset "zero"
    S[t] = U[t] > θ,     I[t] = Σ_j (w_ij << e)·S_j[t] + b_i

which is `spikefa.functional.lif.lif_step` with β·U replaced by the decay encoding D. A
current-based neuron (snnTorch's ``Synaptic``, NIR's ``CubaLIF``) first filters its input through
a second state, the synaptic current, decayed by its own code D_α (α's encoding, the same kinds)
and saturated like U:

    J[t] = sat(D_α(J[t-1]) + I[t]),  then the step above with J[t] in place of I[t]

A decay code holds one value per layer, or one per neuron (``values``: a per-neuron β or τ); the
encodings are:

- ``multiplier``  D(U) = round(U·m / 2^bits), m = round(β·2^bits)  (Loihi: m = 4096 − δ, bits 12)
- ``shift``       D(U) = U − floor(U / 2^k),  β̂ = 1 − 2^−k          (Xylo's bit-shift decay)
- ``none``        D(U) = U,                   β̂ = 1                 (integrate-and-fire)

and ``round`` one of floor (an arithmetic right shift), toward-zero (Loihi: sign·(|x| >> bits))
or nearest (half up). ``sat`` clamps to ±(2^(state_bits−1) − 1) or wraps two's complement.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from spikefa.export.network import Op
from spikefa.export.profile import Decay, DecayRounding
from spikefa.schemas.neuron import tau_of
from spikefa.schemas.validate import Validated
from spikefa.functional.lif import Decay, lif_update


@dataclass(frozen=True)
class DecayCode(Validated):
    """One layer's decay encoding: kind, its integer parameter (m or k), fraction bits, rounding."""

    LABEL = "decay code"

    kind: Decay
    value: int
    bits: int = 0
    rounding: DecayRounding = "floor"

    @property
    def beta(self) -> float:
        """The decay factor the code represents (β̂)."""
        return BETAS[self.kind](self)


def _beta_multiplier(code: DecayCode) -> float:
    return code.value / 2**code.bits


def _beta_shift(code: DecayCode) -> float:
    return 1.0 - 2.0 ** -code.value


BETAS: dict[str, Callable[[DecayCode], float]] = {
    "multiplier": _beta_multiplier, "shift": _beta_shift, "none": lambda code: 1.0,
}


tau = tau_of  # the one formula, re-exported for the quantizer


def _log_tau_error(beta_hat: float, beta: float) -> float:
    t, t_hat = tau(beta, 1.0), tau(beta_hat, 1.0)
    if math.isinf(t) or math.isinf(t_hat):
        return 0.0 if t == t_hat else math.inf
    if t == 0.0 or t_hat == 0.0:
        return 0.0 if t == t_hat else math.inf
    return abs(math.log(t_hat / t))


def encode_decay(beta: float, kind: str, bits: int = 12, rounding: str = "floor",
                 shift_max: int = 15) -> DecayCode:
    """The code nearest to β: m = round(β·2^bits), or the shift k whose τ is nearest in ratio."""
    if kind == "multiplier":
        return DecayCode(kind, int(min(max(round(beta * 2**bits), 0), 2**bits)), bits, rounding)
    if kind == "shift":
        k = min(range(1, shift_max + 1), key=lambda k: _log_tau_error(1.0 - 2.0**-k, beta))
        return DecayCode(kind, k, 0, "floor")
    return DecayCode(kind, 0, 0, rounding)


# ---------------------------------------------------------------- integer operations (int64 tensors)


def _round_shift(x: torch.Tensor, bits: int, rounding: str) -> torch.Tensor:
    """x / 2^bits rounded as named (x int64)."""
    d = 2**bits
    if rounding == "floor":
        return torch.div(x, d, rounding_mode="floor")
    if rounding == "toward-zero":
        return torch.div(x, d, rounding_mode="trunc")
    return torch.div(x + d // 2, d, rounding_mode="floor")  # nearest, half up


Value = int | torch.Tensor  # a code's integer parameter: one per layer, or int64 [neurons]


def _decay_multiplier(u: torch.Tensor, code: DecayCode, value: Value) -> torch.Tensor:
    return _round_shift(u * value, code.bits, code.rounding)


def _decay_shift(u: torch.Tensor, code: DecayCode, value: Value) -> torch.Tensor:
    return u - torch.div(u, torch.pow(2, value) if isinstance(value, torch.Tensor) else 2**value, rounding_mode="floor")


DECAY_STEPS: dict[str, Callable[[torch.Tensor, DecayCode, Value], torch.Tensor]] = {
    "multiplier": _decay_multiplier, "shift": _decay_shift, "none": lambda u, code, value: u,
}


def encode_decays(betas: torch.Tensor, kind: str, bits: int = 12, rounding: str = "floor",
                  shift_max: int = 15) -> tuple[DecayCode, torch.Tensor]:
    """Per-neuron codes of β [n]: (the layer's code kind, bits and rounding, with the value of the
    first neuron; every neuron's value, int64 [n]). Equal β give equal values."""
    cache: dict[float, DecayCode] = {}
    codes = [cache.setdefault(b, encode_decay(b, kind, bits, rounding, shift_max)) for b in betas.tolist()]
    return codes[0], torch.tensor([c.value for c in codes], dtype=torch.int64)


def code_betas(code: DecayCode, values: torch.Tensor) -> torch.Tensor:
    """β̂ per neuron (float64 [n]) of a code kind with per-neuron `values`."""
    return torch.tensor([BETAS[code.kind](DecayCode(code.kind, int(v), code.bits, code.rounding))
                         for v in values.tolist()], dtype=torch.float64)


def saturate(u: torch.Tensor, state_bits: int, overflow: str) -> torch.Tensor:
    """Clamp to ±(2^(bits−1) − 1), or wrap two's complement modulo 2^bits."""
    half = 2 ** (state_bits - 1)
    if overflow == "wrap":
        return torch.remainder(u + half, 2 * half) - half
    return u.clamp(-(half - 1), half - 1)


def code_decay(code: DecayCode, values: torch.Tensor | None = None) -> Decay:
    """D(U) of a decay code (per-neuron `values` [n] in place of its one value), for
    `spikefa.functional.lif.lif_update` (integers: never in place)."""
    step = DECAY_STEPS[code.kind]
    value: Value = code.value if values is None else values
    return lambda u, inplace: step(u, code, value)


def int_lif_step(current: torch.Tensor, u: torch.Tensor, threshold: torch.Tensor, code: DecayCode,
                 reset: str, state_bits: int, overflow: str,
                 values: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """One integer LIF step (module docstring): the one LIF update with the code's decay (per-neuron
    `values` when given) and the state's saturation as its grid; returns (spikes int64 0/1, new state)."""
    fired = (u > threshold).to(u.dtype)
    new = lif_update(u, current, fired, threshold, reset, code_decay(code, values),
                     quantize=lambda v: saturate(v, state_bits, overflow))
    return (new > threshold).to(torch.int64), new


def int_syn_step(current: torch.Tensor, j: torch.Tensor, code: DecayCode, state_bits: int,
                 overflow: str) -> torch.Tensor:
    """A current-based neuron's synaptic current (module docstring): J = sat(D_α(J) + I)."""
    return saturate(DECAY_STEPS[code.kind](j, code, code.value) + current, state_bits, overflow)


# ---------------------------------------------------------------- synapse operations (float or exact integers)


def _op_dense(x: torch.Tensor, op: Op, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return x @ w.T + b


def _op_conv(x: torch.Tensor, op: Op, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return F.conv2d(x, w, b, stride=op.stride, padding=op.padding, groups=op.groups)


def _op_sumpool(x: torch.Tensor, op: Op, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Sum pool (an average pool's 1/(k_h·k_w) is folded into the weights): zero padding adds nothing."""
    return F.avg_pool2d(x, op.kernel, op.stride, op.padding, divisor_override=1)


def _op_maxpool(x: torch.Tensor, op: Op, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return F.max_pool2d(x, op.kernel, op.stride, op.padding)


OP_STEPS: dict[str, Callable[[torch.Tensor, Op, torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "flatten": lambda x, op, w, b: x.reshape(x.shape[0], -1), "dense": _op_dense, "conv2d": _op_conv,
    "sumpool2d": _op_sumpool, "avgpool2d": _op_sumpool, "maxpool2d": _op_maxpool,
}


def apply_ops(x: torch.Tensor, ops: tuple[Op, ...], weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """A synapse's operations in order on x [N, in features] (flattened or shaped): returns the
    currents [N, neurons], flattened row-major. The weighted operation adds the bias, so a pool after
    it pools the bias too. On integer-valued float64 tensors every step is exact while the sums stay
    below 2^52 (`current_bound`)."""
    h = x.reshape(x.shape[0], *ops[0].in_shape)
    for op in ops:
        h = OP_STEPS[op.kind](h, op, weight, bias)
    return h.reshape(h.shape[0], -1)


def current_bound(ops: tuple[Op, ...], weight: torch.Tensor, bias: torch.Tensor, top: float = 1.0) -> float:
    """An upper bound of |current| over inputs in [0, top] (spikes: top 1): the operations run on
    |w|, |b| and an all-`top` input (every intermediate value is bounded by it as well)."""
    ones = torch.full((1, *ops[0].in_shape), float(top), dtype=torch.float64)
    return float(apply_ops(ones, ops, weight.abs().double(), bias.abs().double()).max())
