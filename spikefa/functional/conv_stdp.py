"""Convolutional STDP on first-spike times, as pure functions (batch first, no state): Kheradpisheh,
Ganjtabesh, Thorpe & Masquelier (2018, Neural Networks 99:56-67), "STDP-based spiking deep
convolutional neural networks for object recognition", simplified as the paper does.

Time is discrete: ``steps`` = T steps 0 … T−1 per image. Every neuron fires at most once per image,
so a layer's activity is its first-spike *times* [B, C, H, W] (float), with the value T for "never".
A spike train, where one is needed, is time-major [T, B, C, H, W].

- Input: DoG on/off-centre filtering of the image (`dog_filter`), then intensity-to-latency coding
  (`latency_code`): each positive value spikes once, earlier for stronger, zero never.
- Layers: non-leaky integrate-and-fire neurons without reset (`if_potentials`, `first_spikes`): the
  potential at step t is the convolution of all input spikes up to t, V[t] = W ∗ 1[t_in ≤ t]; a
  neuron fires at the first t with V[t] ≥ θ. Lateral inhibition (`lateral_inhibition`): at each
  position only the earliest map fires. Pooling (`spike_pool`): the earliest spike in each window.
- Learning: k-winner-take-all (`k_winners`: per image at most k winners, at most one per map, an
  inhibition radius r around each) and the simplified STDP of the paper (eq. 3, `stdp_update`):
  Δw_ij = A₊·w_ij(1 − w_ij) if t_j ≤ t_i (pre before or with post, or ``never`` counts as after),
  else A₋·w_ij(1 − w_ij), A₋ < 0, on the winner's receptive field; weights stay in [0, 1]. The
  paper's rates: A₊ = 0.004, A₋ = −0.003 (A₋/A₊ = −0.75), A₊ doubled every 500 images up to 0.15
  (`stdp_rates`).
- Features for a read-out (`potential_features`, `latency_features`): per map, the global max over
  positions of the last layer's final potentials (the paper's global max pooling), or 1 − first
  spike time / T.
- Reward-modulated STDP (Mozafari, Kheradpisheh, Masquelier, Nowzari-Dalini & Ganjtabesh 2018, IEEE
  TNNLS 29(12):6178, "First-spike-based visual categorization using reward-modulated STDP"): the last
  layer's maps are assigned to classes, the class of the earliest spike is the decision
  (`first_spike_decision`); the winner learns by STDP when the decision is right (reward) and by
  anti-STDP when it is wrong (punishment) (`reward_rates` gives each winner its A₊, A₋ for `stdp_update`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def dog_kernel(size: int = 7, sigma_centre: float = 1.0, sigma_surround: float = 2.0) -> torch.Tensor:
    """A difference-of-Gaussians kernel [size, size] (on-centre), zero mean, largest entry 1:
    G(σ_c) − G(σ_s) with G(σ) = exp(−d²/2σ²)/(2πσ²), d the distance to the centre (pixels)."""
    r = torch.arange(size, dtype=torch.float64) - (size - 1) / 2.0
    d2 = r[:, None] ** 2 + r[None, :] ** 2
    k = sum(s * torch.exp(-d2 / (2.0 * sig ** 2)) / (2.0 * math.pi * sig ** 2)
            for s, sig in ((1.0, sigma_centre), (-1.0, sigma_surround)))
    k = k - k.mean()  # type: ignore[union-attr]
    return (k / k.max()).float()


def dog_filter(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """On- and off-centre responses [B, 2, H, W] of images x [B, 1, H, W] (an image with several
    channels is averaged to one first): relu(k ∗ x) and relu(−k ∗ x), zero-padded to the same size."""
    if x.shape[1] != 1:
        x = x.mean(1, keepdim=True)
    u = F.conv2d(x, kernel.to(x.dtype)[None, None], padding=kernel.shape[-1] // 2)
    return torch.cat([u.clamp(min=0), (-u).clamp(min=0)], dim=1)


def latency_code(intensity: torch.Tensor, steps: int) -> torch.Tensor:
    """Intensity-to-latency coding: values [B, ...] ≥ 0 -> spike times [B, ...] (float), t =
    min(T−1, ⌊T·(1 − x / max_image x)⌋) for x > 0 (the image's strongest value at step 0, weaker
    later), T (never) for x ≤ 0."""
    peak = intensity.flatten(1).amax(1).clamp(min=torch.finfo(intensity.dtype).tiny)
    rel = intensity / peak.view(-1, *([1] * (intensity.dim() - 1)))
    t = torch.floor(steps * (1.0 - rel)).clamp(0, steps - 1)
    return torch.where(intensity > 0, t, torch.full_like(t, float(steps)))


def spike_train(times: torch.Tensor, steps: int) -> torch.Tensor:
    """Spike times [B, ...] -> time-major spikes [T, B, ...] (float 0/1): 1 at t == time."""
    t = torch.arange(steps, dtype=times.dtype).view(steps, *([1] * times.dim()))
    return (times.unsqueeze(0) == t).to(times.dtype)


def if_potentials(times: torch.Tensor, weight: torch.Tensor, steps: int, stride: int = 1,
                  padding: int = 0) -> torch.Tensor:
    """Potentials [T, B, F, H', W'] of non-leaky IF neurons without reset: V[t] = W ∗ 1[t_in ≤ t]
    (the convolution of the input spikes up to step t), from input spike times [B, C, H, W] and
    weights [F, C, kh, kw]; all steps in one convolution."""
    t = torch.arange(steps, dtype=times.dtype).view(steps, *([1] * times.dim()))
    seen = (times.unsqueeze(0) <= t).to(weight.dtype)
    v = F.conv2d(seen.flatten(0, 1), weight, stride=stride, padding=padding)
    return v.view(steps, times.shape[0], *v.shape[1:])


def if_final_potential(times: torch.Tensor, weight: torch.Tensor, steps: int, stride: int = 1,
                       padding: int = 0) -> torch.Tensor:
    """V[T−1] [B, F, H', W'] of `if_potentials` alone (every input that spiked at all, in one
    convolution): the last layer's features need no other step, a T-th of the work."""
    return F.conv2d((times <= steps - 1).to(weight.dtype), weight, stride=stride, padding=padding)


def first_spikes(potential: torch.Tensor, threshold: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(first-spike times [B, ...], potential at that time [B, ...]) from potentials [T, B, ...]: the
    first step with V ≥ θ, T (never) where there is none (its potential is then V[T−1])."""
    steps = potential.shape[0]
    fired = potential >= threshold
    t = torch.full(potential.shape[1:], steps, dtype=torch.int64, device=potential.device)
    for step in range(steps - 1, -1, -1):  # from the last step back, so the earliest firing step stays
        t.masked_fill_(fired[step], step)  # (4x faster than an argmax over the leading dimension)
    v = potential.gather(0, t.clamp_max(steps - 1).unsqueeze(0)).squeeze(0)
    return t.to(potential.dtype), v


def lateral_inhibition(times: torch.Tensor, potential: torch.Tensor, steps: int) -> torch.Tensor:
    """Spike times [B, F, H, W] with, at each position (b, y, x), only the earliest map's spike kept
    (ties: the larger potential, then the lower map index); the others become T (never)."""
    fired = times < steps
    earliest = torch.where(fired, times, torch.full_like(times, math.inf)).amin(1, keepdim=True)
    cand = fired & (times == earliest)
    win = torch.where(cand, potential, torch.full_like(potential, -math.inf)).argmax(1, keepdim=True)
    keep = torch.zeros_like(cand).scatter_(1, win, True) & cand
    return torch.where(keep, times, torch.full_like(times, float(steps)))


def spike_pool(times: torch.Tensor, kernel: int, stride: int) -> torch.Tensor:
    """Spike-time max pooling [B, C, H, W] -> [B, C, H', W']: the earliest spike in each window."""
    return -F.max_pool2d(-times, kernel, stride)


def k_winners(times: torch.Tensor, potential: torch.Tensor, k: int, radius: int, steps: int) -> torch.Tensor:
    """The learning winners of each image, [B, k, 3] long (map, y, x), rows of −1 where fewer fired.

    Chosen one at a time among the neurons that fired [B, F, H, W] and are not inhibited: the
    earliest, ties by the larger potential, then the lowest flat index (map, y, x). A winner inhibits
    its whole map (one winner per map) and, in every map, the positions within Chebyshev distance
    ``radius`` of it."""
    b, maps, h, w = times.shape
    allowed = times < steps
    out = torch.full((b, k, 3), -1, dtype=torch.long)
    ys, xs = torch.arange(h).view(1, h, 1), torch.arange(w).view(1, 1, w)
    for j in range(k):
        earliest = torch.where(allowed, times, torch.full_like(times, math.inf)).flatten(1).amin(1)
        has = torch.isfinite(earliest)
        if not bool(has.any()):
            break
        cand = allowed & (times == earliest.view(-1, 1, 1, 1))
        idx = torch.where(cand, potential, torch.full_like(potential, -math.inf)).flatten(1).argmax(1)
        f, y, x = idx // (h * w), (idx // w) % h, idx % w
        out[has, j] = torch.stack([f, y, x], 1)[has]
        near = ((ys - y.view(-1, 1, 1)).abs() <= radius) & ((xs - x.view(-1, 1, 1)).abs() <= radius)
        own = torch.arange(maps).view(1, maps) == f.view(-1, 1)
        block = (near.unsqueeze(1) | own.view(b, maps, 1, 1)) & has.view(-1, 1, 1, 1)
        allowed = allowed & ~block
    return out


def stdp_update(weight: torch.Tensor, pre_times: torch.Tensor, post_times: torch.Tensor, winners: torch.Tensor,
                a_plus: float | torch.Tensor, a_minus: float | torch.Tensor, stride: int = 1,
                padding: int = 0, soft: bool = True) -> torch.Tensor:
    """ΔW [F, C, kh, kw] of the simplified STDP (module docstring) for the winners [B, k, 3] of
    `k_winners`: for each winner (map f at (y, x) of image b, post time t_post) and each input j of
    its receptive field (pre time t_j, padding counts as never), A₊·w(1−w) if t_j ≤ t_post else
    A₋·w(1−w); averaged over the batch's winners of each map (a map without a winner: 0), so a batch
    moves each map by at most one image's step. ``pre_times`` [B, C, H, W] (T for never),
    ``post_times`` [B, F, H', W']. ``a_plus`` / ``a_minus``: numbers, or one per winner [B, k] (the
    reward-modulated rule's reward and punishment, `reward_rates`). ``soft = False``: the additive
    form, A₊ or A₋ without the w(1−w) factor (the caller clips the weights to its bounds; SpykeTorch's
    decision layer, bounds [0.2, 0.8])."""
    maps = weight.shape[0]
    flat = weight.reshape(maps, -1)
    valid = winners[..., 0] >= 0
    img = torch.arange(winners.shape[0]).view(-1, 1).expand_as(valid)[valid]
    f, y, x = winners[valid].unbind(1)
    if img.numel() == 0:
        return torch.zeros_like(weight)
    padded = F.pad(pre_times, (padding,) * 4, value=math.inf) if padding else pre_times  # never
    patches = F.unfold(padded, weight.shape[-2:], stride=stride)  # [B, C·kh·kw, L]
    w_out = post_times.shape[-1]
    pre = patches[img, :, y * w_out + x]  # [N, fan_in]
    post = post_times[img, f, y, x].unsqueeze(1)
    ap, am = (torch.as_tensor(a, dtype=weight.dtype).expand(valid.shape)[valid].unsqueeze(1) for a in (a_plus, a_minus))
    rows = torch.where(pre <= post, ap, am)
    if soft:
        rows = rows * (flat[f] * (1.0 - flat[f]))
    total = torch.zeros_like(flat).index_add_(0, f, rows)
    count = torch.zeros(maps, dtype=weight.dtype).index_add_(0, f, torch.ones_like(f, dtype=weight.dtype))
    return (total / count.clamp(min=1).unsqueeze(1)).view_as(weight)


def stdp_rates(a_plus: float, ratio: float, seen: int, every: int, cap: float) -> tuple[float, float]:
    """(A₊, A₋) after ``seen`` images: A₊ doubled every ``every`` images (0: never) up to ``cap``,
    A₋ = −ratio·A₊ (the paper: A₊ = 0.004, ratio 0.75, every 500, cap 0.15)."""
    a = min(cap, a_plus * 2.0 ** min(seen // every, 1000)) if every > 0 else a_plus
    return a, -ratio * a


def first_spike_decision(times: torch.Tensor, potential: torch.Tensor, classes: int,
                         steps: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The decision of a layer whose maps are assigned to classes in equal contiguous blocks (map f to
    class f // (F / classes); Mozafari et al. 2018): (class scores [B, classes], winners [B, 1, 3]).

    The winner is the earliest spike of all maps and positions, ties by the larger potential
    (`k_winners` with k = 1), its class the decision. A class's score is the best of its neurons'
    (T − t) + ½·v/max|v|: its argmax is the decision; where nothing fired, the class with the largest
    potential (no winner: a row of −1)."""
    b, maps = times.shape[:2]
    scale = potential.flatten(1).abs().amax(1).clamp(min=torch.finfo(potential.dtype).tiny).view(-1, 1, 1, 1)
    score = (steps - times) + 0.5 * potential / scale
    per_map = score.flatten(2).amax(2)
    return per_map.view(b, classes, maps // classes).amax(2), k_winners(times, potential, 1, 0, steps)


def reward_rates(winners: torch.Tensor, labels: torch.Tensor, classes: int, maps: int, reward: tuple[float, float],
                 punishment: tuple[float, float]) -> tuple[torch.Tensor, torch.Tensor]:
    """Per winner [B, k] (float64) the (A₊, A₋) of reward-modulated STDP (Mozafari et al. 2018, eq. 3-4): a
    winner whose map's class (f // (maps / classes)) is the label is rewarded, STDP with ``reward``
    (A₊ for pre no later than post, A₋ otherwise); any other is punished, anti-STDP with
    ``punishment`` = (change for pre no later than post, change otherwise), e.g. (−0.004, +0.0005)."""
    hit = ((winners[..., 0] // (maps // classes)) == labels.view(-1, 1)).long()
    rates = torch.tensor([punishment, reward], dtype=torch.float64)  # [punished/rewarded, (A₊, A₋)]
    return rates[hit, 0], rates[hit, 1]


def potential_features(potential: torch.Tensor, pool: int = 0) -> torch.Tensor:
    """The max of the final potentials [B, F, H, W] per map over all positions (``pool`` 0, the
    paper's global max pooling: [B, F]) or over each ``pool`` x ``pool`` window (stride ``pool``,
    flattened: [B, F·⌊H/pool⌋·⌊W/pool⌋], the reimplementations' spatial pooling before the SVM)."""
    if pool == 0:
        return potential.amax((2, 3))
    return F.max_pool2d(potential, pool, pool).flatten(1)


def latency_features(times: torch.Tensor, steps: int, pool: int = 0) -> torch.Tensor:
    """1 − (earliest spike time)/T in [0, 1] (0: never) per map over all positions (``pool`` 0:
    [B, F]) or per ``pool`` x ``pool`` window (flattened), from spike times [B, F, H, W]."""
    earliest = times.amin((2, 3)) if pool == 0 else spike_pool(times, pool, pool).flatten(1)
    return 1.0 - earliest / steps
