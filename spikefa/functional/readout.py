"""A linear read-out fitted in one go to fixed features: the L2-penalised multinomial logistic
regression, the linear classifier the STDP-feature papers fit once their layers stop learning
(Kheradpisheh et al. 2018 and Falez et al. 2019 use a linear SVM; a logistic regression is the
same linear decision with a probabilistic loss).

The features are standardized per feature (train mean and standard deviation) before the fit, as a
linear SVM's inputs are; the standardization is folded into the returned weight and bias, so the
read-out applies to the raw features: ``logits = features @ weight.T + bias``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

STD_FLOOR = 1e-6
"""A feature whose standard deviation over the training set is below this is divided by it instead
(a constant feature then stays a constant, not an infinity)."""


def fit_logistic(features: torch.Tensor, labels: torch.Tensor, classes: int, l2: float, *, max_iter: int = 300,
                 history_size: int = 20) -> tuple[torch.Tensor, torch.Tensor]:
    """(weight [classes, F], bias [classes]) of the multinomial logistic regression of ``labels``
    [N] (int64 in 0 … classes−1) on ``features`` [N, F], minimising
    mean cross-entropy + l2·‖W‖² over the standardized features (weights zero at the start; LBFGS
    with a strong-Wolfe line search, at most ``max_iter`` iterations; deterministic), the
    standardization folded in (module docstring). Runs with gradients on, also inside ``no_grad``.
    Raises ValueError for empty, mismatched or out-of-range inputs or l2 < 0."""
    if features.ndim != 2 or labels.shape != (features.shape[0],) or not len(labels):
        raise ValueError(f"features [N, F] and labels [N] expected, got {tuple(features.shape)} and "
                         f"{tuple(labels.shape)}")
    if int(labels.min()) < 0 or int(labels.max()) >= classes or not l2 >= 0:
        raise ValueError(f"labels in 0..{classes - 1} and l2 >= 0 expected (labels {int(labels.min())}.."
                         f"{int(labels.max())}, l2 {l2})")
    a = features.detach().to(torch.float32)
    mean, std = a.mean(0), a.std(0).clamp_min(STD_FLOOR)
    z = (a - mean) / std
    with torch.enable_grad():
        w = torch.zeros(a.shape[1], classes, requires_grad=True)
        b = torch.zeros(classes, requires_grad=True)
        opt = torch.optim.LBFGS([w, b], max_iter=max_iter, history_size=history_size, line_search_fn="strong_wolfe")

        def closure() -> torch.Tensor:
            opt.zero_grad()
            loss = F.cross_entropy(z @ w + b, labels) + l2 * (w ** 2).sum()
            loss.backward()
            return loss

        opt.step(closure)
    w_raw = w.detach() / std[:, None]  # z @ w = a @ (w / std) − (mean / std) @ w
    return w_raw.T.contiguous(), b.detach() - mean @ w_raw
