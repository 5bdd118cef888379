"""The STDP family as registered rules: Diehl & Cook (2015) unsupervised STDP with label assignment
(``stdp``), STDP features with a delta-rule read-out (``stdp-readout``) and three-factor STDP
(``three-factor``). Each converts the network a card with ``arch = "diehl-cook"`` or
``"three-factor"`` builds into a learner of `spikefa.nn.stdp.learners`."""

from __future__ import annotations

from torch import nn

from spikefa.nn.stdp import DiehlCookNet, ThreeFactorNet
from spikefa.nn.stdp.learners import DiehlCookLearner, STDPReadoutLearner, ThreeFactorLearner
from spikefa.rules.spec import Option, Request, Rule

_FROZEN = Option(False, bool, "keep the STDP layer at its initialization (the random-feature control)")
_LABELS = Option(10000, int, "training images whose responses assign labels / train the read-out after each "
                 "epoch (learning off)", minimum=1)


def _stdp(model: nn.Module, req: Request) -> nn.Module:
    assert isinstance(model, DiehlCookNet)
    o = req.options
    return DiehlCookLearner(model, req.seed, o["label_samples"], o["frozen"])


def _stdp_readout(model: nn.Module, req: Request) -> nn.Module:
    assert isinstance(model, DiehlCookNet)
    o = req.options
    return STDPReadoutLearner(model, req.seed, o["label_samples"], o["frozen"], o["readout_epochs"], o["readout_lr"],
                              o["weight_decay"])


def _three_factor(model: nn.Module, req: Request) -> nn.Module:
    assert isinstance(model, ThreeFactorNet)
    return ThreeFactorLearner(model, req.seed, req.options["frozen"])


def stdp_rules() -> list[Rule]:
    """The STDP-family rules, in registry order."""
    return [
        Rule("stdp", "Diehl & Cook: unsupervised STDP, label assignment, all-activity vote",
             "Diehl & Cook 2015", (), None, _stdp, {"label_samples": _LABELS, "frozen": _FROZEN},
             takes=("diehl-cook",), online=True, unsupervised=True, assigns_labels=True),
        Rule("stdp-readout", "STDP features (Diehl & Cook layer) + delta-rule read-out fitted after each epoch",
             "Diehl & Cook 2015; Widrow & Hoff 1960", (), None, _stdp_readout,
             {"label_samples": _LABELS, "frozen": _FROZEN,
              "readout_epochs": Option(30, int, "passes of the delta rule over the label samples", minimum=1),
              "readout_lr": Option(0.05, float, "learning rate of the read-out's delta rule"),
              "weight_decay": Option(1e-4, float, "the read-out's weight decay")},
             takes=("diehl-cook",), online=True, unsupervised=True, assigns_labels=True),
        Rule("three-factor", "three-factor STDP: STDP eligibility gated by the DFA-broadcast read-out error",
             "Frémaux & Gerstner 2016; Nøkland 2016", (), None, _three_factor, {"frozen": _FROZEN},
             takes=("three-factor",), online=True, owns_feedback=True),
    ]
