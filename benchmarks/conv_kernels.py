"""The two CPU kernels online DFA on a conv SNN leans on, timed against torch's own on the tutorial
network's layers (snnTorch tutorial 6: 12C5-MP2-64C5-MP2, batch 128, MNIST 28x28):

- the conv weight gradient: ``torch.nn.grad.conv2d_weight`` against the convolution of the input
  with the error as the kernel (`spikefa.nn.synapse.conv_weight_grad`);
- the 2x2 max pool with indices: torch's NCHW ``max_pool2d`` against the same pool on a
  channels-last copy (`spikefa.nn.synapse._max_pool`).

    OMP_NUM_THREADS=1 python benchmarks/conv_kernels.py [--repeats 30]

Prints milliseconds per call (median of --repeats) and the ratio; checks the results agree.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from spikefa.nn.synapse import ROUTES, conv_weight_grad


def median_ms(fn: Callable[[], object], repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--batch-size", type=int, default=128)
    a = ap.parse_args()
    if a.repeats < 1 or a.batch_size < 1:
        ap.error("--repeats and --batch-size must be >= 1")
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS") or "1"))
    g = torch.Generator().manual_seed(0)
    b = a.batch_size
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), batch {b}, load average "
          f"{' / '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print("| kernel | layer | torch ms | spikefa ms | spikefa ÷ torch |\n|---|---|---:|---:|---:|")
    for name, conv, side in [("conv1 1→12, 5x5", nn.Conv2d(1, 12, 5), 28), ("conv2 12→64, 5x5", nn.Conv2d(12, 64, 5), 12)]:
        x = (torch.rand(b, conv.in_channels, side, side, generator=g) < 0.3).float()
        out = conv(x)
        delta = torch.randn(out.shape, generator=g)
        ref = torch.nn.grad.conv2d_weight(x, conv.weight.shape, delta)
        torch.testing.assert_close(conv_weight_grad(conv, x, delta, (0, 0)), ref, rtol=1e-4, atol=1e-3)
        t_ref = median_ms(lambda: torch.nn.grad.conv2d_weight(x, conv.weight.shape, delta), a.repeats)
        t_ours = median_ms(lambda: conv_weight_grad(conv, x, delta, (0, 0)), a.repeats)
        print(f"| weight gradient | {name} | {t_ref:.2f} | {t_ours:.2f} | {t_ours / t_ref:.3f} |")
        z = out.detach()
        pool = nn.MaxPool2d(2)
        want, idx = F.max_pool2d(z, 2, return_indices=True)
        got, back = ROUTES[nn.MaxPool2d](pool, z)
        d = torch.randn(want.shape, generator=g)
        assert torch.equal(got, want)
        assert torch.equal(back(d), F.max_unpool2d(d, idx, 2, output_size=z.shape[-2:]))  # the same indices
        t_ref = median_ms(lambda: F.max_pool2d(z, 2, return_indices=True), a.repeats)
        t_ours = median_ms(lambda: ROUTES[nn.MaxPool2d](pool, z), a.repeats)
        print(f"| max pool 2x2 with indices | {name} output | {t_ref:.2f} | {t_ours:.2f} | {t_ours / t_ref:.3f} |")


if __name__ == "__main__":
    main()
