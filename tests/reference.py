"""Independent reference formulations the tests hold spikefa against, in one place.

Each is written from the paper's equation with plain numpy loops or matrix algebra, not from the
torch code it checks (DESIGN.md, "Two formulations must agree"). ``autograd_fa_linear`` is the one
torch reference: feedback alignment written with plain autograd instead of a custom Function.

Contents:
  Hebbian terms     np_hebb, np_oja, np_term, np_bias_term, np_hebbian_descent, np_sum_rule
  FA / DFA          np_forward, np_fa_grads, np_dfa_grads, autograd_fa_linear
  readout           np_delta_rule
  STDP              np_stdp_pair_sum (pair STDP and its eligibility, an explicit sum over spike pairs)
  comparison        n, close
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch

ATOL = 1e-5


# ---------------------------------------------------------------- comparison helpers


def n(t: torch.Tensor) -> np.ndarray:
    """A tensor as a float64 numpy array (detached)."""
    return t.detach().double().numpy()


def close(a: torch.Tensor | np.ndarray, b: torch.Tensor | np.ndarray, atol: float = ATOL) -> bool:
    a = n(a) if isinstance(a, torch.Tensor) else a
    b = n(b) if isinstance(b, torch.Tensor) else b
    return bool(np.allclose(a, b, rtol=1e-5, atol=atol))


# ---------------------------------------------------------------- Hebbian terms (loop over the batch)


def np_hebb(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """ΔW = mean_b y_b x_bᵀ, one outer product per example."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    out = np.zeros((y.shape[1], x.shape[1]))
    for xb, yb in zip(x, y):
        out += np.outer(yb, xb)
    return out / len(x)


def np_oja(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Δw_i = mean_b y_bi (x_b − y_bi w_i), unit by unit, example by example (Oja 1982)."""
    x, y, w = (np.asarray(a, np.float64) for a in (x, y, w))
    out = np.zeros_like(w)
    for xb, yb in zip(x, y):
        for i in range(w.shape[0]):
            out[i] += yb[i] * (xb - yb[i] * w[i])
    return out / len(x)


def np_bias_term(kind: str, post: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The bias as a weight from a constant input 1."""
    ones = np.ones((len(post), 1))
    if kind == "hebb":
        return np_hebb(ones, post)[:, 0]
    return np_oja(ones, post, np.asarray(b, np.float64)[:, None])[:, 0]


def np_term(kind: str, x: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    return np_hebb(x, y) if kind == "hebb" else np_oja(x, y, w)


def np_hebbian_descent(x: np.ndarray, mu: np.ndarray, h: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Melchior & Wiskott (2019): ΔW = Hebb(x − μ, t) − Hebb(x − μ, h), a batch mean."""
    xc = np.asarray(x, np.float64) - mu
    return np_hebb(xc, t) - np_hebb(xc, h)


def np_sum_rule(g: np.ndarray, h: np.ndarray, beta: float) -> np.ndarray:
    """The sum rule with a relative β: g − β·(‖g‖/‖H‖)·H for a gradient g and a Hebbian term H."""
    return g - beta * np.linalg.norm(g) / np.linalg.norm(h) * h


# ---------------------------------------------------------------- FA / DFA on a chain of dense layers

# name -> (f(a), f'(a, f(a)))
ACTIVATIONS: dict[str, tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray, np.ndarray], np.ndarray]]] = {
    "identity": (lambda a: a, lambda a, h: np.ones_like(a)),
    "tanh": (np.tanh, lambda a, h: 1 - h**2),
    "relu": (lambda a: np.maximum(a, 0.0), lambda a, h: (a > 0).astype(np.float64)),
}

Layer = tuple[np.ndarray, np.ndarray, str]  # (W [out, in], b [out], activation name)


def np_forward(x: np.ndarray, layers: Sequence[Layer]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """h_0 = x, a_l = h_{l−1} W_lᵀ + b_l, h_l = f_l(a_l). Returns ([h_0 … h_L], [a_1 … a_L])."""
    hs, pre = [np.asarray(x, np.float64)], []
    for w, b, act in layers:
        a = hs[-1] @ w.T + b
        pre.append(a)
        hs.append(ACTIVATIONS[act][0](a))
    return hs, pre


def _weight_grads(hs: list[np.ndarray], deltas: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
    """∂W_l = δ_lᵀ h_{l−1}, ∂b_l = Σ_b δ_l."""
    return [(d.T @ h, d.sum(0)) for d, h in zip(deltas, hs[:-1])]


def np_fa_grads(layers: Sequence[Layer], hs: list[np.ndarray], pre: list[np.ndarray], feedbacks: Sequence[np.ndarray],
                d_out: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Feedback alignment (Lillicrap et al. 2016): δ_L = ∂L/∂h_L ⊙ f_L'(a_L) (``d_out`` = ∂L/∂h_L),
    δ_l = (δ_{l+1} B_{l+1}) ⊙ f_l'(a_l).
    ``feedbacks[l]`` is layer l's B (shaped like W_l; feedbacks[0] is not used). B = W is backprop."""
    deltas = [np.asarray(d_out, np.float64) * ACTIVATIONS[layers[-1][2]][1](pre[-1], hs[-1])]
    for l in range(len(layers) - 2, -1, -1):
        deltas.insert(0, (deltas[0] @ feedbacks[l + 1]) * ACTIVATIONS[layers[l][2]][1](pre[l], hs[l + 1]))
    return _weight_grads(hs, deltas)


def np_dfa_grads(layers: Sequence[Layer], hs: list[np.ndarray], pre: list[np.ndarray], feedbacks: Sequence[np.ndarray],
                 e: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Direct feedback alignment (Nøkland 2016): δ_l = (e B_l) ⊙ f_l'(a_l) for every hidden layer,
    no path through W_{l+1}ᵀ; the output layer gets δ_L = e (a linear output). ``feedbacks[l]`` is
    hidden layer l's B_l [classes, n_l]."""
    deltas = [(e @ b) * ACTIVATIONS[layers[l][2]][1](pre[l], hs[l + 1]) for l, b in enumerate(feedbacks)]
    return _weight_grads(hs, [*deltas, np.asarray(e, np.float64)])


def autograd_fa_linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                       feedback: torch.Tensor) -> torch.Tensor:
    """x Wᵀ + b whose input gradient goes through B instead of W, written with plain autograd:
    the forward value comes from W with x detached, the input's gradient from x Bᵀ minus its own
    (detached) value."""
    through_b = x @ feedback.detach().t()
    out = torch.nn.functional.linear(x.detach(), weight, bias)
    return out + through_b - through_b.detach()


# ---------------------------------------------------------------- the delta-rule readout


def np_delta_rule(v: np.ndarray, a: np.ndarray, f: np.ndarray, y: np.ndarray, lr: float,
                  weight_decay: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """One step of the delta rule for a softmax unit (Widrow & Hoff 1960), example by example:
    e_b = softmax(V f_b + a) − onehot(y_b); V ← V − η (Σ_b e_b f_bᵀ / B + λ V), a ← a − η Σ_b e_b / B."""
    v, a, f = (np.asarray(t, np.float64) for t in (v, a, f))
    dv, da = np.zeros_like(v), np.zeros_like(a)
    for fb, yb in zip(f, y):
        z = v @ fb + a
        p = np.exp(z - z.max())
        e = p / p.sum()
        e[int(yb)] -= 1.0
        dv += np.outer(e, fb)
        da += e
    return v - lr * (dv / len(f) + weight_decay * v), a - lr * da / len(f)


# ---------------------------------------------------------------- pair STDP


def np_stdp_pair_sum(pre: np.ndarray, post: np.ndarray, dt: float, a_plus: float, a_minus: float, tau_pre: float,
                     tau_post: float, order: str = "pre-first", lam: float = 1.0) -> np.ndarray:
    """All-to-all additive pair STDP as an explicit sum over spike pairs, for trains pre [T, in] and
    post [T, out]: Δw[j, i] = Σ over every (pre i at t_p, post j at t_q) pair of A₊·exp(−Δt/τ₊) when
    Δt = (t_q − t_p)·dt > 0 and A₋·exp(Δt/τ₋) when Δt < 0; Δt = 0 goes to A₊ (pre-first) or A₋
    (post-first). With λ < 1 each pair is an eligibility discounted by λ^(T−1−t), t the step of its
    later spike (Frémaux & Gerstner 2016, eq. 3)."""
    steps = pre.shape[0]
    dw = np.zeros((post.shape[1], pre.shape[1]))
    for i in range(pre.shape[1]):
        for j in range(post.shape[1]):
            for tp in np.nonzero(pre[:, i])[0]:
                for tq in np.nonzero(post[:, j])[0]:
                    lag = (tq - tp) * dt
                    discount = lam ** (steps - 1 - max(tp, tq))
                    if lag > 0 or (lag == 0 and order == "pre-first"):
                        dw[j, i] += discount * a_plus * math.exp(-lag / tau_pre)
                    else:
                        dw[j, i] += discount * a_minus * math.exp(lag / tau_post)
    return dw
