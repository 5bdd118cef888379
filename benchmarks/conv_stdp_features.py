"""Convolutional STDP features with a fitted linear read-out, the protocol of Kheradpisheh et al.
(2018): each conv layer of the `conv-stdp` card learns by STDP, greedily, image by image, on the
first N training images of a seeded shuffle; the layers are then fixed, the features (each map's max
per the card's `feature_pool` window, standardized per sample as the card does) of all 50,000
training images are computed, and a multinomial logistic regression (LBFGS, L2 penalty λ chosen on
the 10,000 validation images) is fitted to them and scored on the 10,000 test images. ``--frozen``
is the random-feature control: the same pipeline with the conv layers left at their N(0.8, 0.05)
initialisation. `spikefa train --model conv-stdp` now follows this order itself (the card's default:
`local_images = 5000`, `readout = "fit"` at the λ this script chose on validation, 1e-4).

    OMP_NUM_THREADS=1 python benchmarks/conv_stdp_features.py --seed S [--stdp-images 5000] [--frozen] \
        --out benchmarks/results/conv_stdp_mnist_cpu/features/seedS.json

Bad input: one line, exit 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from spikefa.catalog import load_card
from spikefa.data.mnist import load_mnist
from spikefa.errors import SpikefaError
from spikefa.functional.readout import fit_logistic
from spikefa.nn.build import build
from spikefa.nn.conv_stdp import ConvSTDPPlasticity, SpikingConv, init_paper


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--stdp-images", type=int, default=5000, help="images each conv layer learns from")
    ap.add_argument("--frozen", action="store_true", help="the random-feature control")
    ap.add_argument("--lambdas", default="1e-4,1e-3", help="L2 penalties to choose from on validation")
    ap.add_argument("--model", default="conv-stdp")
    ap.add_argument("--data-dir", default="../shared/data/mnist")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    try:
        card = load_card(a.model)
        data = load_mnist(a.data_dir)
        lambdas = [float(v) for v in a.lambdas.split(",")]
        if card.arch != "conv-stdp":
            raise SpikefaError(f"--model {a.model}: arch {card.arch!r}; this protocol needs a conv-stdp card")
        if a.stdp_images < 1:
            raise SpikefaError(f"--stdp-images {a.stdp_images}: give the number of images STDP learns from (>= 1)")
    except (SpikefaError, ValueError) as err:
        print(f"conv_stdp_features: {err}", file=sys.stderr)
        sys.exit(2)
    torch.manual_seed(a.seed)
    net = build(card, (1, 28, 28), 10, seed=a.seed)
    options = dict(card.preset("conv-stdp").options)
    rule = ConvSTDPPlasticity(k=int(options.get("k", 5)), radius=int(options.get("radius", 2)))
    gen = torch.Generator().manual_seed(a.seed)
    convs = [i for i, m in enumerate(net) if isinstance(m, SpikingConv)]
    for i in convs:
        init_paper(net[i], gen, rule.init_mean, rule.init_std)
    order = torch.randperm(len(data.x_train), generator=torch.Generator().manual_seed(1000 + a.seed))
    x_stdp = data.x_train[order[:a.stdp_images]]
    t0 = time.perf_counter()
    with torch.no_grad():
        for i in convs if not a.frozen else []:  # greedy: layer by layer, each on the same images
            for x in x_stdp.split(32):
                rule.step(net[i], net[:i](x), 0, 1)
            print(f"layer {i}: STDP on {a.stdp_images} images, {time.perf_counter() - t0:.0f} s", flush=True)
    stdp_seconds = time.perf_counter() - t0
    features = net[:-1]  # everything up to the linear read-out: the pooled, per-sample standardized features
    t1 = time.perf_counter()
    with torch.no_grad():
        f_train, f_val, f_test = (torch.cat([features(x) for x in xs.split(200)])
                                  for xs in (data.x_train, data.x_val, data.x_test))
    feature_seconds = time.perf_counter() - t1
    def acc(f: torch.Tensor, y: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> float:
        return 100 * float(((f @ w.T + b).argmax(1) == y).float().mean())

    t2 = time.perf_counter()
    fits = []
    for lam in lambdas:
        w, b = fit_logistic(f_train, data.y_train, 10, lam)
        fits.append({"lambda": lam, "train": acc(f_train, data.y_train, w, b), "val": acc(f_val, data.y_val, w, b),
                     "test": acc(f_test, data.y_test, w, b)})
        print(f"lambda {lam:g}: " + ", ".join(f"{k} {fits[-1][k]:.2f} %" for k in ("train", "val", "test")), flush=True)
    best = max(fits, key=lambda r: r["val"])  # chosen on validation
    result = {"model": a.model, "seed": a.seed, "frozen": a.frozen, "stdp_images": 0 if a.frozen else a.stdp_images,
              "features": int(f_train.shape[1]), "train_images": len(f_train), "fits": fits, "chosen": best,
              "seconds": {"stdp": round(stdp_seconds, 1), "features": round(feature_seconds, 1),
                          "fit": round(time.perf_counter() - t2, 1)}}
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(result, indent=1) + "\n")
    print(f"chosen lambda {best['lambda']:g}: val {best['val']:.2f} %, test {best['test']:.2f} % -> {a.out}")


if __name__ == "__main__":
    main()
