"""Tiny spiking networks and hand-made profiles for the export tests (no data, no training), and the
guards that make a verification the machine cannot run a skip with its reason, never a pass."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import torch
from torch import nn

from spikefa.export import c_writer
from spikefa.export.profile import Profile, load_profile, parse_profile
from spikefa.schemas.neuron import LIFParams
from spikefa.nn.spiking import SpikingNet


def tiny_net(sizes: tuple[int, ...] = (20, 16, 5), *, beta: float = 0.9, reset: str = "subtract",
             gain: float = 3.0, seed: int = 0, bias: bool = True) -> SpikingNet:
    """Flatten+Linear, Linear, ... LIF layers with seeded weights; `gain` makes it spike."""
    gen = torch.Generator().manual_seed(seed)
    spec = LIFParams(beta=beta, threshold=1.0, reset=reset, dt=1.0, surrogate="atan")
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        lin = nn.Linear(a, b, bias=bias)
        with torch.no_grad():
            lin.weight.copy_((torch.rand(b, a, generator=gen) * 2 - 1) * gain / a**0.5)
            if bias:
                lin.bias.copy_((torch.rand(b, generator=gen) * 2 - 1) * 0.1)
        layers.append(nn.Sequential(nn.Flatten(), lin) if i == 0 else lin)
    return SpikingNet(layers, spec)


def spikes(t: int, b: int, n: int, rate: float = 0.3, seed: int = 1) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return (torch.rand(t, b, n, generator=gen) < rate).to(torch.float32)


def variant(base: str, **sections: dict[str, Any]) -> Profile:
    """A shipped profile with some keys replaced, e.g. variant("int8-edge", neuron={"state_bits": 10})."""
    from spikefa.catalog import find_file, read_toml

    data = copy.deepcopy(read_toml(find_file(base, "hardware")))
    for section, keys in sections.items():
        data.setdefault(section, {}).update(keys)
    return parse_profile(data, f"<{base} variant>")


def profile(name: str) -> Profile:
    return load_profile(name)


def require_every_verifier() -> None:
    """Skip, saying what is missing, unless every artefact can be run here: onnxruntime (ONNX),
    nir + snnTorch (NIR) and a C compiler (C). Without one, the export marks that verification
    ``skipped`` and its summary still says ``ok``; a test must not count that as passed."""
    for module in ("onnxruntime", "nir", "snntorch"):
        pytest.importorskip(module, reason=f"{module} is not installed, so the export cannot verify every artefact")
    if c_writer.find_compiler() is None:
        pytest.skip("no C compiler ($CC, cc, gcc or clang on PATH), so the C artefact cannot be verified")


def assert_every_verification_ran(verifications: list[dict[str, Any]]) -> None:
    """Every artefact was run against its reference (none skipped) and agreed spike for spike."""
    skipped = [v["format"] for v in verifications if v["skipped"]]
    assert not skipped, f"verification skipped, not passed: {skipped}"
    assert all(v["total"] > 0 and v["mismatches"] == 0 for v in verifications), verifications


def tiny_conv_net(pool: str = "max", *, spike_pool: str = "none", stride: int = 1, padding: int = 1,
                  groups: int = 1, channels: int = 4, beta: float = 0.9, reset: str = "subtract", gain: float = 2.0,
                  seed: int = 0, bias: bool = True, classes: int = 3, side: int = 8) -> SpikingNet:
    """A 1x`side`x`side` conv SNN with seeded weights and ``net.input_shape`` set:
    Conv2d(1→2, 3x3, pad 1) → `pool` of the currents → LIF; `spike_pool` of those spikes →
    Conv2d(2→`channels`, 3x3, stride, padding, groups) → LIF; Flatten → Linear → LIF.
    Pools: "max", "avg", "sum" (AvgPool2d(divisor_override=1)), "lp" (LPPool2d(1, 2)) or "none"."""
    gen = torch.Generator().manual_seed(seed)
    spec = LIFParams(beta=beta, threshold=1.0, reset=reset, dt=1.0, surrogate="atan")
    pools = {"max": lambda: nn.MaxPool2d(2), "avg": lambda: nn.AvgPool2d(2), "lp": lambda: nn.LPPool2d(1, 2),
             "sum": lambda: nn.AvgPool2d(2, divisor_override=1), "none": lambda: nn.Identity()}
    conv1 = nn.Conv2d(1, 2, 3, padding=1, bias=bias)
    conv2 = nn.Conv2d(2, channels, 3, stride=stride, padding=padding, groups=groups, bias=bias)
    h = side // (2 if pool != "none" else 1) // (2 if spike_pool != "none" else 1)
    h = (h + 2 * padding - 3) // stride + 1
    lin = nn.Linear(channels * h * h, classes, bias=bias)
    for m in (conv1, conv2, lin):
        fan_in = m.weight[0].numel()
        with torch.no_grad():
            m.weight.copy_((torch.rand(m.weight.shape, generator=gen) * 1.5 - 0.5) * gain / fan_in**0.5)
            if bias:
                m.bias.copy_((torch.rand(m.bias.shape, generator=gen) * 2 - 1) * 0.1)
    net = SpikingNet([nn.Sequential(conv1, pools[pool]()), nn.Sequential(pools[spike_pool](), conv2),
                      nn.Sequential(nn.Flatten(), lin)], spec)
    net.input_shape = (1, side, side)
    return net


def export_cli(argv: list[str]) -> tuple[int, str]:
    """What spikefa.cli.main does with the export command: (exit code, its one error line); a
    SpikefaError is exit code 2."""
    import argparse

    from spikefa.errors import SpikefaError
    from spikefa.export.cli import add_parser

    parser = argparse.ArgumentParser(prog="spikefa")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        return int(args.func(args)), ""
    except SpikefaError as exc:
        return 2, f"spikefa: error: {exc}"


def card_run_dir(tmp: Any, base: str, name: str, replace: dict[str, str]) -> tuple[Any, dict[str, Any]]:
    """(run directory, config) of an untrained run on the bundled digits: the built-in card `base`
    with its text edited by `replace` and renamed `name`, its mapping stored as a run stores it."""
    import json

    from spikefa.catalog import find_card, load_card

    text = find_card(base).read_text()
    for old, new in replace.items():
        text = text.replace(old, new)
    card_path = tmp / f"{name}.toml"
    card_path.write_text(text.replace(f'name = "{base}"', f'name = "{name}"'))
    run = tmp / "run"
    run.mkdir()
    config = {"model": str(card_path), "rule": "bp", "dataset": "digits", "standardize": False,
              "card": load_card(card_path).mapping}
    (run / "config.json").write_text(json.dumps(config))
    return run, config
