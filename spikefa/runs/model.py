"""The network a run directory holds: the resolved card, built from the run seed, converted to the
run's rule, transformed (QAT) and, for spiking cards, wrapped with the card's spike encoder.

`resolve_config` reads the card file once and stores its mapping in the config; `make_model` and
`load_run` rebuild from that mapping only, so a run resumes and exports the network it was trained
as even when the card file has changed since. A card whose network is a user's Python factory
(``[architecture] factory = "file.py:fn"``) imports that file again: if it has changed so that the
network no longer fits the checkpoint, loading refuses in one line (`load_weights`).
"""

from __future__ import annotations

import json
import os
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from spikefa.catalog import load_card
from spikefa.errors import SpikefaError
from spikefa.functional.encoders import encoder_of
from spikefa.nn.build import build
from spikefa.nn.online import EncodedSNN
from spikefa.nn.snntorch_net import refresh_surrogates, rescale_surrogate
from spikefa.rules.registry import check_card, convert, get_rule, resolve_feedback, resolve_options
from spikefa.runs.checkpoint import BEST, CHECKPOINT, load_checkpoint
from spikefa.schemas.card import ModelCard, parse_card
from spikefa.schemas.run import RunConfig

ModelTransform = Callable[[nn.Module], None]
"""Changes a converted network in place before training (QAT's fake quantization, built by
`spikefa.export.qat.qat_transform`)."""

_PRESET_KEYS = ("optimizer", "lr", "batch_size", "epochs", "weight_decay", "momentum", "schedule", "standardize")


def resolve_config(model: str, rule: str, dataset: str, **overrides: Any) -> RunConfig:
    """The card's preset for ``rule``, with every non-None override applied on top; the card's
    mapping is stored in the config. Raises `SpikefaError` for a bad card, rule, option or value."""
    card = load_card(model)
    check_card(card)
    r = get_rule(rule)
    preset = card.preset(rule)
    base = {k: getattr(preset, k) for k in _PRESET_KEYS}
    base.update({k: v for k, v in overrides.items() if v is not None})
    for key in ("data_dir", "init_from", "distill_from"):  # stored absolute: export and resume may run from another folder
        if isinstance(base.get(key), (str, os.PathLike)) and str(base[key]).strip():
            base[key] = os.path.abspath(os.path.expanduser(base[key]))
    base["feedback"] = resolve_feedback(r, base.get("feedback"))
    base["rule_options"] = resolve_options(r, {**preset.options, **(base.get("rule_options") or {})})
    return RunConfig(model=model, rule=rule, dataset=dataset, card=card.mapping, **base)


def card_of(config: RunConfig) -> ModelCard:
    """The run's card: the stored mapping (a run made before cards were stored reads the file, and
    says so)."""
    if config.card is None:
        warnings.warn(f"run of {config.model!r} predates stored cards: reading the card file, which may have "
                      "changed since the run was trained", stacklevel=2)
        return load_card(config.model)
    return parse_card(config.card, f"{config.model} (as stored in the run's config)")


_SAME_NETWORK = ("arch", "architecture", "neuron", "encoder")


def init_weights(config: RunConfig) -> dict[str, Any]:
    """The trained weights of the run ``config.init_from`` names, to start ``config``'s run from.
    The two runs must hold the same network (the cards' arch, architecture, neuron and encoder). A
    QAT source (more quantisation-aware training, e.g. with other options or another schedule) needs
    the same ``qat`` and ``state_bits``, and a teacher of its own if it distils (``distill_from``); its state dict is returned as it is, with
    the fake quantisation's names and each layer's threshold (`make_model`). Raises `SpikefaError`
    naming the directory, file or key."""
    if not config.init_from:
        raise SpikefaError("init_weights needs a config with init_from = RUN_DIR")
    src = Path(config.init_from)
    other = read_config(src)
    if other.qat and (other.qat, other.state_bits) != (config.qat, config.state_bits):
        raise SpikefaError(f"{src}: trained through --qat {other.qat}" + (f" --state-bits {other.state_bits}" if other.state_bits else "")
                           + "; init_from a QAT run needs the same --qat and --state-bits (or fine-tune from the "
                           "float run it started from)")
    if other.qat and config.distill and not config.distill_from:
        raise SpikefaError(f"{src}: distillation's teacher is a float network; this run trained through --qat "
                           f"{other.qat} (name the float run it started from as the teacher: --distill-from RUN_DIR)")
    mine, theirs = card_of(config).mapping, card_of(other).mapping
    for key in _SAME_NETWORK:
        if mine.get(key) != theirs.get(key):
            raise SpikefaError(f"{src}: init_from needs the same network; the card's [{key}] differs from "
                               f"{config.model!r}'s ({theirs.get(key)!r} vs {mine.get(key)!r})")
    path = src / CHECKPOINT
    if not path.is_file():
        raise SpikefaError(f"{path}: no checkpoint here; init_from needs a run trained by `spikefa train`")
    return {k: v for k, v in upgrade_state(load_checkpoint(path)["model"]).items() if not k.endswith("_extra_state")}


def load_init(model: nn.Module, weights: dict[str, Any], source: str) -> None:
    """Copy `weights` into `model`: every parameter must be there with its shape; buffers present in
    both (thresholds, β) are copied, the rule's own (feedback matrices) keep the seed's draw."""
    own = model.state_dict()
    for name, p in model.named_parameters():
        if name not in weights:
            raise SpikefaError(f"{source}: has no {name!r}; init_from needs the same network")
    for name, value in weights.items():
        if name in own and tuple(own[name].shape) != tuple(value.shape):
            raise SpikefaError(f"{source}: {name!r} has shape {tuple(value.shape)}, the network "
                               f"{tuple(own[name].shape)}; init_from needs the same network")
    model.load_state_dict({k: v for k, v in weights.items() if k in own}, strict=False)


def load_weights(model: nn.Module, weights: dict[str, Any], source: str | Path, config: RunConfig | None = None) -> None:
    """``model.load_state_dict(weights)``; a network that no longer fits its checkpoint (a user's
    factory file changed since training) raises `SpikefaError` naming `source` and the first mismatch."""
    try:
        model.load_state_dict(weights)
    except RuntimeError as exc:
        detail = next((line.strip() for line in str(exc).splitlines()[1:] if line.strip()), str(exc))
        factory = config is not None and "factory" in ((config.card or {}).get("architecture") or {})
        raise SpikefaError(f"{source}: the checkpoint does not fit the network the run's card builds now ({detail})"
                           + ("; has the card's factory file changed since training?" if factory else "")) from None


def make_model(config: RunConfig, input_shape: tuple[int, int, int], num_classes: int,
               transform: ModelTransform | None = None, init: dict[str, Any] | None = None) -> nn.Module:
    """Build the card's network from the run seed, convert it to the run's rule, wrap a spiking
    network with its encoder, copy in `init` (trained weights, `init_weights`) and apply `transform`
    (required when the config asks for QAT; it sees the initial weights, e.g. to place thresholds)."""
    card = card_of(config)
    if config.qat and (transform is None or not card.spiking):
        why = ("needs a spiking card (arch snn-*)" if not card.spiking else
               "needs its transform: spikefa.export.qat.qat_transform(config)")
        raise SpikefaError(f"--qat {config.qat} {why}; model {config.model!r}")
    net = build(card, input_shape, num_classes, seed=config.seed)
    model = convert(net, config.rule, config.feedback, seed=config.seed, input_shape=input_shape,
                    options=config.rule_options)
    if card.spiking:
        assert card.encoder is not None
        model = EncodedSNN(model, encoder_of(card.encoder), seed=config.seed)
    source = str(Path(config.init_from or "init") / CHECKPOINT)
    if init is not None and is_qat_state(init):
        if transform is None:
            raise SpikefaError(f"{source}: a QAT run's weights need the run to train through QAT too (--qat)")
        transform(net)  # names and buffers as the source's; the thresholds it places are replaced next
        neurons = [n for n in getattr(net, "neurons", ()) if isinstance(getattr(n, "threshold", None), torch.Tensor)]
        placed = [float(n.threshold.detach().max()) for n in neurons]
        load_init(model, init, source)
        for neuron, before in zip(neurons, placed):  # the source's θ_l, and the surrogate rescaled with it
            rescale_surrogate(neuron, before / float(neuron.threshold.detach().max()))
        refresh_surrogates(net)
        return model
    if init is not None:
        load_init(model, init, source)
    if transform is not None:
        transform(net)
    return model


def is_qat_state(weights: dict[str, Any]) -> bool:
    """Whether a state dict was saved from a fake-quantized network (a ``--qat`` run)."""
    return any(".parametrizations." in k for k in weights)


@dataclass(frozen=True, eq=False)
class Run:
    """A run directory read back: its config, checkpoint state and the trained model (eval mode)."""

    config: RunConfig
    state: dict[str, Any]
    model: nn.Module
    input_shape: tuple[int, int, int]
    num_classes: int


def read_config(run_dir: str | Path) -> RunConfig:
    """The ``config.json`` of a run directory; errors name the file."""
    path = Path(run_dir) / "config.json"
    if not Path(run_dir).exists():
        raise SpikefaError(f"{Path(run_dir)}: no such run directory; give one made by `spikefa train --out DIR`")
    if not path.is_file():
        raise SpikefaError(f"{Path(run_dir)}: no config.json here; give a run directory made by `spikefa train`")
    return RunConfig.from_dict(json.loads(path.read_text()), source=str(path))


_OLD_KEYS = re.compile(r"(^|\.)feedback\.(\d+)\.")


def upgrade_state(weights: dict[str, Any]) -> dict[str, Any]:
    """A state dict written before feedback lists were named ``feedbacks``."""
    return {_OLD_KEYS.sub(r"\1feedbacks.\2.", k): v for k, v in weights.items()}


def load_run(run_dir: str | Path,
             transform_for: Callable[[RunConfig], ModelTransform | None] | None = None,
             checkpoint: str = CHECKPOINT) -> Run:
    """Rebuild a run directory's model from its config and checkpoint (``input_shape`` and
    ``num_classes`` are stored in the checkpoint; older ones are inferred from the first and last
    weights). `transform_for` gives the transform a config needs (QAT). `checkpoint`: the file in
    the run directory, ``checkpoint.pt`` (the last epoch) or ``best.pt`` (the best validation epoch)."""
    config = read_config(run_dir)
    path = Path(run_dir) / checkpoint
    if not path.is_file():
        raise SpikefaError(f"{path}: no such checkpoint in the run directory"
                           + (f"; runs trained before {BEST} existed have only {CHECKPOINT}" if checkpoint != CHECKPOINT
                              else ""))
    state = load_checkpoint(path)
    weights = upgrade_state(state["model"])
    shape, classes = state.get("input_shape"), state.get("num_classes")
    if shape is None or classes is None:
        mats = [v for k, v in weights.items() if k.endswith("weight") and v.ndim == 2 and "feedback" not in k]
        if not mats:
            raise SpikefaError(f"{Path(run_dir) / CHECKPOINT}: cannot infer the input shape; "
                               "store input_shape and num_classes")
        shape, classes = (1, 1, int(mats[0].shape[1])), int(mats[-1].shape[0])
    model = make_model(config, tuple(shape), int(classes),  # type: ignore[arg-type]
                       transform_for(config) if transform_for is not None else None)
    load_weights(model, weights, path, config)
    model.eval()
    return Run(config, state, model, tuple(shape), int(classes))  # type: ignore[arg-type]
