"""Time of the `conv-stdp` card's feature pass (DoG, latency code, conv1, pool, conv2, features) per
image, as `spikefa` computes it now against the earlier formulation (every step of the last layer's
potentials, the first spike by an argmax over the time dimension), interleaved in one process on the
same images, and whether the two give the same features (they should, bit for bit).

    OMP_NUM_THREADS=1 python benchmarks/conv_stdp_speed.py [--images 600] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext

import torch

from spikefa.catalog import load_card
from spikefa.data.mnist import load_mnist
from spikefa.functional import conv_stdp as fc
from spikefa.nn import conv_stdp as nc
from spikefa.nn.build import build


def first_spikes_argmax(potential: torch.Tensor, threshold: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The earlier `first_spikes`: the first True by an argmax over the leading (time) dimension."""
    steps = potential.shape[0]
    fired = potential >= threshold
    t = fired.to(torch.uint8).argmax(0)
    t = torch.where(fired.any(0), t, torch.full_like(t, steps - 1))
    v = potential.gather(0, t.unsqueeze(0)).squeeze(0)
    return torch.where(fired.any(0), t.to(potential.dtype), torch.full_like(v, float(steps))), v


@contextmanager
def earlier() -> Iterator[None]:
    """The earlier formulation in place of the current one, for the duration."""
    saved = nc.first_spikes, nc.if_final_potential
    nc.first_spikes = first_spikes_argmax
    nc.if_final_potential = lambda times, w, steps, stride=1, padding=0: fc.if_potentials(
        times, w, steps, stride, padding)[-1]
    try:
        yield
    finally:
        nc.first_spikes, nc.if_final_potential = saved


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=600)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--data-dir", default="../shared/data/mnist")
    a = ap.parse_args()
    net = build(load_card("conv-stdp"), (1, 28, 28), 10, seed=0)
    features = net[:-1]
    x = load_mnist(a.data_dir).x_train[:a.images]
    load = os.getloadavg()[0]
    times: dict[str, list[float]] = {"now": [], "earlier": []}
    with torch.no_grad():
        for _ in range(a.rounds):
            for name in ("now", "earlier"):
                with earlier() if name == "earlier" else nullcontext():
                    t0 = time.perf_counter()
                    out = torch.cat([features(part) for part in x.split(200)])
                    times[name].append(time.perf_counter() - t0)
                    if name == "now":
                        now_out = out
                    else:
                        same = torch.equal(now_out, out)
    now, before = (statistics.median(times[k]) / a.images * 1e3 for k in ("now", "earlier"))
    print(f"{a.images} images, {a.rounds} rounds, {torch.get_num_threads()} thread(s), load {load:.2f} -> "
          f"{os.getloadavg()[0]:.2f}: now {now:.2f} ms per image, earlier {before:.2f} ms, ratio {now / before:.2f}; "
          f"features bitwise equal: {same}")


if __name__ == "__main__":
    main()
