"""Online DFA on snnTorch's tutorial conv net with its conv layers frozen at initialisation (all of
them, or only the first): what the read-out alone (or conv2 + read-out) learns on top of random
convolutions, beside the card's full online DFA.

    OMP_NUM_THREADS=1 python benchmarks/frozen_conv_dfa.py OUT --epochs 1 [--only-first] [--lr 2e-3] [--conv-feedback position] \
        [--data-dir ../shared/data/mnist]
"""

from __future__ import annotations

import argparse

import torch

from spikefa.train import resolve_config, train


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--only-first", action="store_true", help="freeze only the first conv layer")
    p.add_argument("--conv-feedback", default="position", choices=("position", "channel"))
    p.add_argument("--data-dir", default="../shared/data/mnist")
    a = p.parse_args()
    config = resolve_config("benchmarks/cards/snn-tutorial-conv.toml", "dfa", "mnist", seed=a.seed,
                            data_dir=a.data_dir, epochs=a.epochs, lr=a.lr, align_every=0,
                            rule_options={"conv_feedback": a.conv_feedback})

    def freeze(net: torch.nn.Module) -> None:
        convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
        for conv in convs[:1] if a.only_first else convs:
            for param in conv.parameters():
                param.requires_grad_(False)

    summary = train(config, a.out, transform=freeze, progress=False)
    print(f"test {100 * summary['test_accuracy']:.2f} %  val {100 * summary['val_accuracy']:.2f} %  -> {a.out}")


if __name__ == "__main__":
    main()
