"""Convolutional STDP features with a gradient-trained read-out, as a registered rule:

- ``conv-stdp``  Kheradpisheh, Ganjtabesh, Thorpe & Masquelier (2018, Neural Networks 99:56-67),
  "STDP-based spiking deep convolutional neural networks for object recognition": DoG filtering and
  latency coding, conv layers of non-leaky IF neurons firing once per image with lateral inhibition
  and spike-time pooling, each layer learning by the simplified STDP Δw = A±·w(1−w) on the receptive
  fields of its k winners (unsupervised, layer by layer as the paper: ``schedule = "greedy"``, or
  together); then a linear read-out of per-map features (the paper: an SVM; here the last
  ``nn.Linear`` trained by the cross-entropy through the run's optimiser in every epoch, as for
  ``softhebb``; or, ``readout = "fit"`` with ``local_images``, the paper's order: STDP on a few
  thousand images per layer, then the read-out fitted once to the fixed features of the whole
  training split by an L2-penalised logistic regression, `spikefa.functional.readout`). ``frozen = true`` keeps the conv layers at their N(0.8, 0.05) initialization: the
  random-feature control with the same network, read-out and budget.

The network is the ``conv-stdp`` architecture (`spikefa.nn.build.build_conv_stdp`); the learner is
`spikefa.nn.competitive.CompetitiveLearner` with one `spikefa.nn.conv_stdp.ConvSTDPPlasticity` per
conv layer. ``readout = "rstdp"``: the reward-modulated variant (Mozafari, Kheradpisheh, Masquelier,
Nowzari-Dalini & Ganjtabesh 2018, IEEE TNNLS 29(12):6178, "First-spike-based visual categorization
using reward-modulated STDP"): the last conv layer's maps are assigned to the classes, the class of the
earliest spike (or, ``decision = "final-potential"``, the largest final potential) is the decision,
reward -> STDP, punishment -> anti-STDP, with the rates adapted to the recent accuracy (Mozafari et
al. 2019, ``adaptive``) (`spikefa.nn.conv_stdp.RewardLearner`; no gradient, no optimiser). Its random-feature control,
``frozen = true``, keeps the layers before the decision layer fixed while the decision layer learns.
"""

from __future__ import annotations

import dataclasses
import math

from torch import nn

from spikefa.errors import SpikefaError
from spikefa.functional.feedback import derive_seed
from spikefa.nn.competitive import CompetitiveLearner, local_layer_count
from spikefa.nn.conv_stdp import ConvSTDPPlasticity, RewardLearner, RewardSTDP, SpikingConv
from spikefa.rules.spec import Option, Request, Rule

_INIT_SEED = 4002  # the conv layers' initialization stream (derive_seed of the run seed)
_NAME = "conv-stdp"
_READOUT_L2 = 1e-4  # readout=fit's default L2 penalty λ


def _thresholds(text: str, n: int) -> list[float] | None:
    """None for "card" (keep the card's), else one threshold θ > 0 for all ``n`` layers or ``n`` of them."""
    if str(text).strip() == "card":
        return None
    try:
        values = [float(v) for v in str(text).split(",")]
    except ValueError:
        values = []
    if len(values) not in (1, n) or not all(math.isfinite(v) and v > 0 for v in values):
        raise SpikefaError(f"rule {_NAME!r} option thresholds={text!r} is not allowed; expected 'card', one number "
                           f"> 0, or {n} comma-separated (one per conv layer, input side first)")
    return values * n if len(values) == 1 else values


def _conv_stdp(model: nn.Module, req: Request) -> nn.Module:
    o = req.options
    n = local_layer_count(model, _NAME)
    convs = [m for m in model.modules() if isinstance(m, SpikingConv)]
    if len(convs) != n:
        raise SpikefaError(f"rule {_NAME!r} trains a 'conv-stdp' card's network (SpikingConv layers and a Linear "
                           f"read-out); this model has {len(convs)} SpikingConv of {n} local layers")
    thresholds = _thresholds(o["thresholds"], n)
    for conv, theta in zip(convs, thresholds or []):
        conv.threshold = theta
    plasticity = ConvSTDPPlasticity(a_plus=o["a_plus"], a_minus_ratio=o["a_minus_ratio"], a_plus_max=o["a_plus_max"],
                                    double_every=o["double_every"], k=o["k"], radius=o["radius"], update=o["update"])
    if o["readout"] != "fit" and o["readout_l2"] != _READOUT_L2:
        raise SpikefaError(f"rule {_NAME!r}: readout_l2={o['readout_l2']:g} (from --opt or the card's preset) is the "
                           f"penalty of readout=fit, and readout={o['readout']!r} has no fit; give --opt readout=fit, "
                           "or leave readout_l2 out")
    if o["readout"] == "rstdp":
        reward = RewardSTDP(**{f.name: o[f.name] for f in dataclasses.fields(RewardSTDP)})  # one option per field
        return RewardLearner(model, plasticity, reward, _NAME, seed=derive_seed(req.seed, _INIT_SEED),
                             local_epochs=o["local_epochs"], schedule=o["schedule"], frozen=o["frozen"],
                             init=o["init"] == "paper", local_images=o["local_images"],
                             cache_images=o["cache_images"])
    return CompetitiveLearner(model, plasticity, _NAME,  # type: ignore[arg-type]
                              seed=derive_seed(req.seed, _INIT_SEED),
                              local_epochs=o["local_epochs"], schedule=o["schedule"], frozen=o["frozen"],
                              init=o["init"] == "paper", local_images=o["local_images"],
                              readout="fit" if o["readout"] == "fit" else "gradient", readout_l2=o["readout_l2"])


def _fits_readout(model: nn.Module) -> bool:
    """A learner whose read-out is fitted after the STDP phase: no loss to log, a fit after each epoch."""
    return bool(getattr(model, "fits_readout", False))


def conv_stdp_rules() -> list[Rule]:
    """The convolutional STDP rules, in registry order."""
    return [
        Rule(_NAME, "convolutional STDP features (DoG, latency code, IF, k-WTA), linear read-out",
             "Kheradpisheh, Ganjtabesh, Thorpe & Masquelier 2018, Neural Networks 99:56", (), None, _conv_stdp,
             {"a_plus": Option(0.004, float, "initial STDP rate A₊ (the paper: 0.004)", minimum=1e-12),
              "a_minus_ratio": Option(0.75, float, "A₋ = −ratio·A₊ (the paper: A₋ = −0.003, ratio 0.75)"),
              "a_plus_max": Option(0.15, float, "cap of A₊ (the paper: 0.15)", minimum=1e-12),
              "double_every": Option(500, int, "A₊ doubles every this many images a layer learns from "
                                     "(0: never; the paper: 500)", minimum=0),
              "thresholds": Option("card", str, "firing thresholds θ: 'card' (the card's), one number, or one per "
                                   "conv layer (comma-separated)"),
              "k": Option(5, int, "winners per image (k-WTA; at most one per map)", minimum=1),
              "radius": Option(2, int, "inhibition radius of a winner (positions, all maps)", minimum=0),
              "update": Option("image", ("image", "batch"), "the unsupervised layers learn image by image (each "
                               "image a whole step on the weights the previous left; the paper) or per batch (one "
                               "step of the winners' mean update, from the batch's starting weights)"),
              "local_epochs": Option(1, int, "epochs of STDP learning (per layer when greedy); then the conv "
                                     "layers stay fixed (readout=linear: while the read-out keeps learning; fit: "
                                     "the read-out is fitted and the run ends)", minimum=1),
              "local_images": Option(0, int, "STDP learns from the first this many images of each of its epochs, "
                                     "then the layer stays fixed (0: all; the paper: a few thousand)", minimum=0),
              "schedule": Option("greedy", ("greedy", "together"), "conv layers learn one after the other "
                                 "(local_epochs each; the paper) or in the same epochs"),
              "frozen": Option(False, bool, "keep the conv layers at their initialization (the random-feature "
                               "control)"),
              "init": Option("paper", ("paper", "model"), "draw the conv weights from N(0.8, 0.05) from the run "
                             "seed (paper), or keep the model's own (model)"),
              "readout": Option("linear", ("linear", "fit", "rstdp"), "a Linear read-out of per-map features "
                                "trained by gradient in every epoch (linear); fitted once the conv layers are fixed, "
                                "by an L2-penalised logistic regression on the features of the whole training split "
                                "(fit; the paper's protocol, its linear SVM as a logistic regression); or the last "
                                "conv layer as the decision layer, maps assigned to classes, learning by "
                                "reward-modulated STDP (rstdp; Mozafari et al. 2018)"),
              "readout_l2": Option(_READOUT_L2, float, "readout=fit only: the L2 penalty λ on the read-out's weights (1e-4: chosen on "
                                   "validation over 1e-4 and 1e-3, 3 seeds, benchmarks/results/conv_stdp_mnist_cpu)",
                                   minimum=0.0),
              "r_plus": Option(0.004, float, "rstdp: reward, +change for inputs no later than the winner"),
              "r_minus": Option(0.003, float, "rstdp: reward, −change for the other inputs"),
              "p_plus": Option(0.0005, float, "rstdp: punishment, +change for inputs after the winner (or never)"),
              "p_minus": Option(0.004, float, "rstdp: punishment, −change for inputs no later than the winner"),
              "decision_w_min": Option(0.2, float, "rstdp: the decision layer's lower weight bound (SpykeTorch: 0.2)"),
              "decision_w_max": Option(0.8, float, "rstdp: the decision layer's upper weight bound w_max "
                                       "(SpykeTorch: 0.8)"),
              "decision_soft": Option(False, bool, "rstdp: multiply each change by w(1−w) as the feature layers do "
                               "(false: additive, as SpykeTorch's decision layer; true lets one map take every "
                               "image)"),
              "adaptive": Option(True, bool, "rstdp: scale the reward rates by the recent fraction of wrong "
                                 "decisions and the punishment rates by the fraction of right ones (Mozafari et al. "
                                 "2019)"),
              "adapt_every": Option(1000, int, "rstdp: images per window of the adaptive rates' counts",
                                    minimum=1),
              "decision": Option("first-spike", ("first-spike", "final-potential"), "rstdp: the earliest "
                                 "decision spike decides (Mozafari et al. 2018), or the largest final potential, every "
                                 "input spike counting as causal (the 2019 deep network's threshold-less layer)"),
              "dropout": Option(0.0, float, "rstdp: probability that a decision map is silenced for one training "
                                "decision (Mozafari et al. 2018's dropout)"),
              "cache_images": Option(100_000, int, "rstdp: once the feature layers are fixed, keep the decision "
                                     "layer's input spike times of up to this many images in memory (one byte per "
                                     "input, 6 KB per image on the conv-stdp-rstdp card), so later epochs skip the "
                                     "feature pass; the same bits either way (0: off)", minimum=0)},
             takes=("conv-stdp",), layers=(SpikingConv, nn.Linear), online=True, ends_epochs=True,
             unsupervised=_fits_readout, assigns_labels=_fits_readout),
    ]
