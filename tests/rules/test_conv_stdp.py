"""`conv-stdp` as a registered rule: the card's network builds and converts, the options reach the
learner (bad ones refused in one line naming the key), STDP moves the conv weights inside [0, 1]
while the frozen control leaves them bitwise at their initialization and its read-out still learns."""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from spikefa.catalog import find_card, load_card
from spikefa.errors import ConfigError, SpikefaError
from spikefa.nn.build import build
from spikefa.nn.competitive import CompetitiveLearner
from spikefa.nn.conv_stdp import ConvSTDPPlasticity, SpikingConv
from spikefa.rules.registry import RULES, check_card, convert
from spikefa.schemas.card import parse_card

TINY = """name = "tiny"
description = "test"
reference = "test"
default_rule = "conv-stdp"
arch = "conv-stdp"
[architecture]
channels = [6, 8]
kernel_sizes = [3, 3]
thresholds = [2.0, 2.0]
steps = 6
dog_size = 5
[defaults]
optimizer = "adam"
lr = 1e-2
batch_size = 16
epochs = 2
weight_decay = 0.0
momentum = 0.0
schedule = "constant"
standardize = false
"""


def tiny_net(seed: int = 0) -> nn.Module:
    return build(parse_card(tomllib.loads(TINY), "tiny.toml"), (1, 10, 10), 3, seed=seed)


def digits_like(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, 10, 10, generator=gen)
    return x * (x > 0.5), torch.randint(0, 3, (n,), generator=gen)


def test_declarations() -> None:
    rule = RULES["conv-stdp"]
    assert rule.learns_online(nn.Linear(1, 1)) and rule.ends_epochs
    assert not rule.assigns_labels_for(nn.Linear(1, 1)) and not rule.unsupervised_for(nn.Linear(1, 1))
    assert rule.takes == ("conv-stdp",) and rule.layers == (SpikingConv, nn.Linear)
    assert "frozen" in rule.options and "local_epochs" in rule.options


def test_card_builds_and_converts() -> None:
    card = load_card("conv-stdp")
    check_card(card)
    assert card.default_rule == "conv-stdp"
    net = build(card, (1, 28, 28), 10, seed=0)
    convs = [m for m in net if isinstance(m, SpikingConv)]
    assert [c.out_channels for c in convs] == [30, 100] and [c.threshold for c in convs] == [15.0, 10.0]
    learner = convert(net, "conv-stdp", options=card.preset("conv-stdp").options)
    assert isinstance(learner, CompetitiveLearner) and learner.schedule == "greedy"
    w = convs[0].weight
    assert 0.0 <= float(w.min()) and float(w.max()) <= 1.0 and abs(float(w.mean()) - 0.8) < 0.01
    assert abs(float(w.std()) - 0.05) < 0.01  # the paper's N(0.8, 0.05)
    learner.eval()
    assert learner(digits_like(2)[0].expand(2, 1, 10, 10).repeat(1, 1, 3, 3)[..., :28, :28]).shape == (2, 10)


def test_options_reach_the_learner_and_thresholds_override() -> None:
    learner = convert(tiny_net(), "conv-stdp", seed=3, options={"a_plus": 0.01, "k": 2, "radius": 0,
                                                                "thresholds": "1.5,2.5", "schedule": "together",
                                                                "frozen": "true", "local_epochs": 3})
    assert list(learner.plasticity.values()) == [ConvSTDPPlasticity(a_plus=0.01, k=2, radius=0)] * 2
    assert [m.threshold for m in learner.local_layers()] == [1.5, 2.5]
    assert learner.frozen and learner.local_epochs == 3 and learner.schedule == "together"
    again = convert(tiny_net(seed=9), "conv-stdp", seed=3)
    assert torch.equal(again.model[1].weight, learner.model[1].weight)  # the run seed decides the init


@pytest.mark.parametrize("options,match", [
    ({"thresholds": "1,2,3"}, "option thresholds='1,2,3' is not allowed; expected 'card', one number > 0, or 2"),
    ({"thresholds": "-1"}, "option thresholds='-1' is not allowed"),
    ({"a_plus": -0.1}, "option a_plus=-0.1 must be >= "),
    ({"a_plus": 0.5}, "option a_plus = 0.5 is not allowed"),  # above the cap a_plus_max
    ({"k": 0}, "option k=0 must be >= 1"),
    ({"update": "epoch"}, "update='epoch' is not allowed"),
    ({"schedule": "random"}, "schedule='random' is not allowed"),
    ({"tau": 1.0}, "has no option 'tau'"),
    ({"readout": "linear", "readout_l2": 1e-3}, "readout_l2=0.001 .* is the penalty of readout=fit, and "
     "readout='linear' has no fit"),  # it was silently unused
])
def test_bad_options_refused_in_one_line(options: dict, match: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(SpikefaError, match=match) as err:
        convert(tiny_net(), "conv-stdp", options=options)
    assert "\n" not in str(err.value) and "conv-stdp" in str(err.value)


def test_its_own_model_kind_both_ways() -> None:
    with pytest.raises(SpikefaError, match="'conv-stdp' does not train a rate model .* a card with arch 'conv-stdp'"):
        convert(nn.Sequential(nn.Conv2d(1, 2, 3, bias=False), nn.Flatten(), nn.Linear(8, 2)), "conv-stdp")
    with pytest.raises(SpikefaError, match="'fa' does not train a conv-stdp model"):  # once-firing: no gradient
        convert(tiny_net(), "fa")


def _train(learner: CompetitiveLearner, epochs: int, batches: int = 3) -> None:
    trained = [p for p in learner.parameters() if p.requires_grad]  # none with a fitted read-out
    opt = torch.optim.Adam(trained or [torch.zeros(1, requires_grad=True)], lr=1e-2)
    for e in range(epochs):
        for b in range(batches):
            x, y = digits_like(16, seed=10 * e + b)
            opt.zero_grad()
            learner.local_step(x, y)
            opt.step()
        learner.end_epoch()


def test_stdp_moves_the_conv_weights_in_the_unit_interval_greedily() -> None:
    learner = convert(tiny_net(), "conv-stdp", options={"a_plus": 0.05, "double_every": 16})
    first, second = learner.local_layers()
    w1, w2 = first.weight.clone(), second.weight.clone()
    _train(learner, 1)  # greedy: epoch 0 trains the first layer only
    assert not torch.equal(first.weight, w1) and torch.equal(second.weight, w2)
    assert int(first.images_seen) == 48 and int(second.images_seen) == 0
    _train(learner, 1)
    assert not torch.equal(second.weight, w2)
    for layer in (first, second):
        assert float(layer.weight.min()) >= 0.0 and float(layer.weight.max()) <= 1.0


def test_image_by_image_is_one_image_batches_in_turn_and_not_the_batch_mean() -> None:
    """update='image' (the paper) on a batch = update='batch' on each image in turn (the rate doubling
    at the image where it falls); the batch mean moves the weights less."""
    layer = tiny_net()[1]
    x = tiny_net()[0](digits_like(8, seed=4)[0])  # the first layer's input spike times
    start = layer.weight.detach().clone()
    runs = {}
    for name, steps in [("image", [x]), ("turns", list(x.split(1))), ("batch", [x])]:
        with torch.no_grad():
            layer.weight.copy_(start)
            layer.images_seen.zero_()
            rule = ConvSTDPPlasticity(a_plus=0.02, double_every=3, k=2, radius=1,
                                      update="batch" if name != "image" else "image")
            for part in steps:
                rule.step(layer, part, 0, 1)
        runs[name] = layer.weight.detach().clone()
        assert int(layer.images_seen) == 8
    assert torch.equal(runs["image"], runs["turns"])
    assert (runs["image"] - start).abs().sum() > 2 * (runs["batch"] - start).abs().sum() > 0


def test_frozen_control_keeps_the_conv_weights_and_the_read_out_learns() -> None:
    learner = convert(tiny_net(), "conv-stdp", options={"frozen": True})
    start = {k: v.clone() for k, v in learner.state_dict().items()}
    _train(learner, 2)
    now = learner.state_dict()
    convs = [k for k in start if k.endswith(".weight") and k.startswith(("model.1.", "model.3."))]
    assert len(convs) == 2 and all(torch.equal(now[k], start[k]) for k in convs)
    read_out = f"model.{learner.readout_at}.weight"
    assert not torch.equal(now[read_out], start[read_out])


def test_card_schema_refuses_bad_values_naming_file_and_key() -> None:
    text = Path(find_card("conv-stdp")).read_text()
    for old, new, key in [("thresholds = [15.0, 10.0]", "thresholds = [15.0]", "architecture.thresholds"),
                          ("dog_sigmas = [1.0, 2.0]", "dog_sigmas = [2.0, 1.0]", "architecture.dog_sigmas"),
                          ('features = "potential"', 'features = "rate"', "architecture.features"),
                          ("steps = 15", "steps = 1", "architecture.steps")]:
        assert old in text
        with pytest.raises(ConfigError, match=f"bad.toml: {key} = .* is not allowed"):
            parse_card(tomllib.loads(text.replace(old, new)), "bad.toml")


def test_windowed_features_size_the_read_out() -> None:
    text = Path(find_card("conv-stdp")).read_text()
    assert "feature_pool = 4" in text  # the card's (chosen on validation)
    text = text.replace("feature_pool = 4", "feature_pool = 2")
    net = build(parse_card(tomllib.loads(text), "pooled.toml"), (1, 28, 28), 10, seed=0)  # conv2 maps 8x8 -> 4x4
    assert net[-1].in_features == 100 * 4 * 4 and net(torch.rand(2, 1, 28, 28)).shape == (2, 10)
    learner = convert(net, "conv-stdp").eval()
    x = torch.rand(3, 1, 28, 28)
    (_, _, r1), (_, w2, r2) = learner.local_features(x)  # the run's diagnostics: one response per map
    assert r1.shape == (3, 30) and r2.shape == (3, 100)
    first = learner.model[:3](x)  # conv1's spike times after the pool (T: never)
    assert torch.equal(r1, first.amin((2, 3))) and bool((r1 < 15).any())  # the earliest spike: not "dead" at T
    last = max(i for i, m in enumerate(learner.model) if isinstance(m, SpikingConv))
    assert torch.equal(r2, learner.model[:last + 1](x).amax((2, 3)))  # the conv's final potentials, per map
    with pytest.raises(ConfigError, match="pooled.toml: architecture.feature_pool = -1 is not allowed"):
        parse_card(tomllib.loads(text.replace("feature_pool = 2", "feature_pool = -1")), "pooled.toml")


def test_a_kernel_larger_than_its_map_is_padded_to_one_position() -> None:
    net = build(load_card("conv-stdp"), (1, 8, 8), 10)  # conv1 5x5 -> 4x4, pool -> 2x2, conv2 5x5 padded by 2
    convs = [m for m in net if isinstance(m, SpikingConv)]
    assert [c.padding for c in convs] == [(0, 0), (2, 2)]
    times = net[:4](torch.rand(2, 1, 8, 8))
    assert times.shape == (2, 100, 2, 2)  # 2 + 2·2 − 5 + 1
    assert [c.padding for c in build(load_card("conv-stdp"), (1, 28, 28), 10) if isinstance(c, SpikingConv)] == \
        [(0, 0), (0, 0)]  # the paper's 28x28: valid


def rstdp_net() -> nn.Module:
    text = TINY.replace("channels = [6, 8]", "channels = [6, 9]")  # 9 decision maps: 3 per class
    return build(parse_card(tomllib.loads(text), "tiny.toml"), (1, 10, 10), 3, seed=0)


def test_rstdp_readout_builds_the_reward_learner() -> None:
    from spikefa.nn.conv_stdp import RewardLearner, RewardSTDP

    learner = convert(rstdp_net(), "conv-stdp", options={"readout": "rstdp", "r_plus": 0.01, "p_minus": 0.02})
    assert isinstance(learner, RewardLearner) and learner.classes == 3
    assert learner.reward == RewardSTDP(r_plus=0.01, p_minus=0.02)
    assert not any(isinstance(m, nn.Linear) for m in learner.modules())  # no gradient read-out
    assert learner(digits_like(4)[0]).shape == (4, 3)
    with pytest.raises(SpikefaError, match="the last SpikingConv has 8 maps, not a multiple of the 3 classes"):
        convert(tiny_net(), "conv-stdp", options={"readout": "rstdp"})


def test_rstdp_features_learn_first_then_the_decision_layer_and_frozen_keeps_the_features() -> None:
    """Greedy: the feature layer's epoch, then the decision layer's; the frozen control waits the same
    epoch, so both give the decision layer the same epochs."""
    for frozen in (True, False):
        learner = convert(rstdp_net(), "conv-stdp", options={"readout": "rstdp", "frozen": frozen, "r_plus": 0.05,
                                                             "p_minus": 0.05})
        features, decision = learner.model[1], learner.model[learner.decision_at]
        assert learner.decision_from == 1
        for epoch in range(2):
            w_f, w_d = features.weight.clone(), decision.weight.clone()
            for b in range(3):
                x, y = digits_like(16, seed=b)
                miss = learner.local_step(x, y)
                assert 0.0 <= float(miss) <= 1.0
            learner.end_epoch()
            assert torch.equal(features.weight, w_f) == (frozen or epoch == 1)
            assert torch.equal(decision.weight, w_d) == (epoch == 0)
        lo, hi = (torch.tensor(b, dtype=decision.weight.dtype) for b in (0.2, 0.8))  # the default bounds
        assert bool((decision.weight >= lo).all()) and bool((decision.weight <= hi).all())


def test_rstdp_adaptive_rates_scale_reward_by_errors_and_punishment_by_hits() -> None:
    """Mozafari et al. 2019: after each window the reward rates are multiplied by the fraction of
    wrong decisions and the punishment rates by the fraction of right ones (1 − 1/classes and
    1/classes before the first window)."""
    x, _ = digits_like(1, seed=3)
    learner = convert(rstdp_net(), "conv-stdp", options={"readout": "rstdp", "frozen": True, "adapt_every": 1})
    learner.epochs_done.fill_(learner.decision_from)
    assert learner.factors.tolist() == pytest.approx([2 / 3, 1 / 3])
    decision = learner.model[learner.decision_at]
    with torch.no_grad():
        decision.weight.clamp_(0.3, 0.7)  # inside the bounds: only the update moves them
    wrong = (learner(x).argmax(1) + 1) % 3

    def step(label: torch.Tensor) -> torch.Tensor:
        before = decision.weight.clone()
        learner.local_step(x, label)
        return (decision.weight - before).abs()

    moved = step(wrong)  # punished at 1/3 of the rates
    assert sorted({round(v, 6) for v in moved[moved > 0].tolist()}) == [round(0.0005 / 3, 6), round(0.004 / 3, 6)]
    assert learner.factors.tolist() == [1.0, 0.0] and float(learner.window.sum()) == 0.0  # 1 of 1 wrong
    assert float(step(wrong).sum()) == 0.0  # no right decision in the last window: punishment off
    moved = step((wrong + 2) % 3)  # the right label: rewarded at the full rates
    assert sorted({round(v, 6) for v in moved[moved > 0].tolist()}) == [0.003, 0.004]
    assert learner.factors.tolist() == [0.0, 1.0]
    fixed = convert(rstdp_net(), "conv-stdp", options={"readout": "rstdp", "adaptive": False})
    assert fixed.factors.tolist() == [1.0, 1.0]
    with pytest.raises(SpikefaError, match="adapt_every"):
        convert(rstdp_net(), "conv-stdp", options={"readout": "rstdp", "adapt_every": 0})


def test_rstdp_additive_punishment_moves_a_saturated_map() -> None:
    """The decision layer's default update is additive within [w_min, w_max]: punishing a map at
    its upper bound lowers its weights by p_minus, where the soft form w(1−w) would leave them at 1."""
    x, y = digits_like(8, seed=0)
    for soft, bounds, moved in ((False, (0.2, 0.8), True), (True, (0.0, 1.0), False)):
        learner = convert(rstdp_net(), "conv-stdp", options={"readout": "rstdp", "frozen": True, "decision_soft": soft,
                                                             "decision_w_min": bounds[0], "decision_w_max": bounds[1]})
        decision = learner.model[learner.decision_at]
        learner.epochs_done.fill_(learner.decision_from)
        with torch.no_grad():
            decision.weight.fill_(bounds[1])  # every map saturated: each image's winner is punished unless right
            before = decision.weight.clone()
            learner.local_step(x, (y + 1) % 3)  # every decision wrong: punishment only
        assert bool((decision.weight < before).any()) == moved
        assert bool((decision.weight >= bounds[0]).all()) and bool((decision.weight <= before).all())
    with pytest.raises(SpikefaError, match="decision_w_min"):
        convert(rstdp_net(), "conv-stdp", options={"readout": "rstdp", "decision_w_min": 0.9})


def test_rstdp_reward_and_punishment_move_the_winner_oppositely() -> None:
    x, _ = digits_like(1, seed=3)
    moves = []
    for label in range(3):
        learner = convert(rstdp_net(), "conv-stdp", options={"readout": "rstdp", "frozen": True})
        decision = learner.model[learner.decision_at]
        learner.epochs_done.fill_(learner.decision_from)
        with torch.no_grad():
            decision.weight.clamp_(0.2, 0.75)  # inside the bounds, so that only the update moves them
        before = decision.weight.clone()
        scores = learner(x)
        learner.local_step(x, torch.tensor([label]))
        moves.append((int(scores.argmax()), decision.weight - before))
    decided = moves[0][0]
    assert all(d == decided for d, _ in moves)  # the same network, the same decision
    rewarded = moves[decided][1]
    assert bool((rewarded > 0).any()) and bool((rewarded < 0).any())
    for label, (_, moved) in enumerate(moves):
        if label != decided:  # punished: anti-STDP of the same winner, every entry the opposite sign
            assert torch.equal(moved.sign(), -rewarded.sign())


def test_compare_adds_the_random_feature_control_rows() -> None:
    from spikefa.train.compare import control_of, with_controls

    assert control_of("conv-stdp") == "conv-stdp+frozen=true"
    assert control_of("conv-stdp+frozen=true") is None
    assert with_controls(["conv-stdp+readout=rstdp"]) == ["conv-stdp+readout=rstdp",
                                                          "conv-stdp+readout=rstdp+frozen=true"]


def test_rstdp_final_potential_decision_is_the_largest_final_potential() -> None:
    """``decision = "final-potential"``: the map with the largest V[T−1] wins whatever its threshold,
    and a reward raises every input that spiked (all count as before the post spike at T−1)."""
    x, _ = digits_like(4, seed=1)
    learner = convert(rstdp_net(), "conv-stdp", options={"readout": "rstdp", "frozen": True,
                                                         "decision": "final-potential", "adaptive": False})
    layer = learner.model[learner.decision_at]
    layer.threshold = 1e9  # no neuron reaches it: the first-spike decision would have no winner
    with torch.no_grad():
        layer.weight.clamp_(0.3, 0.7)  # inside the bounds: only the update moves them
    h = learner.model[:learner.decision_at](x)
    scores, winners, t = learner.decide(h)
    final = layer.potentials(h)[-1]
    best = final.flatten(1).argmax(1)
    maps = final.shape[2] * final.shape[3]
    assert torch.equal(winners[:, 0, 0], best // maps)
    assert torch.equal(scores.argmax(1), best // maps // (layer.out_channels // learner.classes))
    assert bool((t[final > 0] == layer.steps - 1).all()) and bool((t[final <= 0] == layer.steps).all())
    learner.epochs_done.fill_(learner.decision_from)
    before = layer.weight.clone()
    right = scores.argmax(1)[:1]
    learner.reward_step(h[:1], right)
    f, y0, x0 = winners[0, 0].tolist()
    k, pad = layer.kernel_size[0], layer.padding[0]
    padded = torch.nn.functional.pad(h, (pad,) * 4, value=float(layer.steps))  # padding never spikes
    spiked = padded[0, :, y0:y0 + k, x0:x0 + k] < layer.steps
    moved = layer.weight[f] - before[f]
    assert bool((moved[spiked] > 0).all()) and bool((moved[~spiked] < 0).all())
    with pytest.raises(SpikefaError, match="decision"):
        convert(rstdp_net(), "conv-stdp", options={"readout": "rstdp", "decision": "last"})


def test_rstdp_dropout_silences_maps_in_training_only_and_is_reproducible() -> None:
    x, y = digits_like(6, seed=2)
    learner = convert(rstdp_net(), "conv-stdp", options={"readout": "rstdp", "frozen": True})
    h = learner.model[:learner.decision_at](x)
    silenced = torch.zeros(9, dtype=torch.bool)
    silenced[:6] = True  # only the last class's maps may fire
    _, winners, t = learner.decide(h, silenced)
    fired = winners[:, 0, 0][winners[:, 0, 0] >= 0]
    assert bool((fired >= 6).all()) and bool((t[:, :6] == learner.model[learner.decision_at].steps).all())
    runs = []
    for _ in range(2):
        net = convert(rstdp_net(), "conv-stdp", options={"readout": "rstdp", "frozen": True, "dropout": 0.5})
        net.epochs_done.fill_(net.decision_from)
        for b in range(3):
            net.local_step(*digits_like(8, seed=b))
        runs.append(net.model[net.decision_at].weight.clone())
    plain = convert(rstdp_net(), "conv-stdp", options={"readout": "rstdp", "frozen": True})
    plain.epochs_done.fill_(plain.decision_from)
    for b in range(3):
        plain.local_step(*digits_like(8, seed=b))
    assert torch.equal(runs[0], runs[1])  # the same seed and images: the same masks
    assert not torch.equal(runs[0], plain.model[plain.decision_at].weight)
    with pytest.raises(SpikefaError, match="dropout"):
        convert(rstdp_net(), "conv-stdp", options={"readout": "rstdp", "dropout": 1.0})


def test_local_images_stops_each_layer_after_that_many_images_of_its_epoch() -> None:
    """local_images=20 over epochs of 3 batches of 16 = STDP on exactly the first 20 images of each
    epoch (batches of 16 and 4) with no cap: the same conv weights, bit for bit."""
    capped = convert(tiny_net(), "conv-stdp", options={"a_plus": 0.05, "double_every": 8, "local_images": 20})
    _train(capped, 2)
    fed = convert(tiny_net(), "conv-stdp", options={"a_plus": 0.05, "double_every": 8})
    for e in range(2):
        x, y = digits_like(16, seed=10 * e)
        fed.local_step(x, y)
        x, y = digits_like(16, seed=10 * e + 1)
        fed.local_step(x[:4], y[:4])
        fed.end_epoch()
    for a, b in zip(capped.local_layers(), fed.local_layers()):
        assert int(a.images_seen) == int(b.images_seen) == 20  # greedy: each layer in its own epoch
        assert torch.equal(a.weight, b.weight)


def test_fitted_read_out_waits_for_the_local_phase_then_is_the_logistic_fit_of_the_features() -> None:
    from spikefa.functional.readout import fit_logistic

    learner = convert(tiny_net(), "conv-stdp", options={"readout": "fit", "local_images": 20, "readout_l2": 1e-3})
    assert learner.fits_readout and learner.epochs_needed == 2
    rule = RULES["conv-stdp"]
    assert rule.unsupervised_for(learner) and rule.assigns_labels_for(learner)
    read_out = learner.model[learner.readout_at]
    start = read_out.weight.detach().clone()
    x, y = digits_like(64, seed=7)
    _train(learner, 1)
    learner.assign_labels(x, y)  # layer 2 has not learned yet: nothing is fitted
    assert torch.equal(read_out.weight, start) and not bool(learner.readout_fitted)
    assert float(learner.local_step(x[:16], y[:16])) == 0.0  # past local_images: nothing learns
    _train(learner, 1)
    learner.assign_labels(x, y)
    learner.eval()
    with torch.no_grad():
        w, b = fit_logistic(learner.model[:learner.readout_at](x), y, 3, 1e-3)
    assert bool(learner.readout_fitted) and torch.equal(read_out.weight, w) and torch.equal(read_out.bias, b)
    learner.assign_labels(*digits_like(64, seed=8))  # fitted once: later epochs keep it
    assert torch.equal(read_out.weight, w)
    frozen = convert(tiny_net(), "conv-stdp", options={"readout": "fit", "frozen": True})
    assert frozen.epochs_needed == 0
    frozen.end_epoch()
    frozen.assign_labels(x, y)
    assert bool(frozen.readout_fitted)


def test_rstdp_feature_layers_honour_local_images() -> None:
    net = build(parse_card(tomllib.loads(TINY.replace("channels = [6, 8]", "channels = [6, 9]")), "tiny.toml"),
                (1, 10, 10), 3, seed=0)
    learner = convert(net, "conv-stdp", options={"readout": "rstdp", "local_images": 20, "update": "batch"})
    for b in range(3):
        learner.local_step(*digits_like(16, seed=b))
    assert int(learner.local_layers()[0].images_seen) == 20


def test_without_lateral_inhibition_a_layer_passes_on_every_threshold_crossing() -> None:
    """``lateral_inhibition = false`` (SpykeTorch's propagation): a layer's output is its first-spike
    times, every map that crossed θ; with it, at most one map per position, the earliest (ties: the
    larger potential). The two formulations agree where only one map fired."""
    from spikefa.functional.conv_stdp import first_spikes

    text = TINY.replace("kernel_sizes = [3, 3]", "kernel_sizes = [3, 3]\nlateral_inhibition = false")
    card = parse_card(tomllib.loads(text), "tiny.toml")
    assert card.architecture.lateral_inhibition is False
    dense, sparse = (build(c, (1, 10, 10), 3, seed=0) for c in (card, parse_card(tomllib.loads(TINY), "tiny.toml")))
    sparse.load_state_dict(dense.state_dict())
    conv_d, conv_s = dense[1], sparse[1]
    assert isinstance(conv_d, SpikingConv) and not conv_d.inhibition and conv_s.inhibition
    assert "inhibition=False" in repr(conv_d)
    times = dense[0](digits_like(4)[0])
    t_d, t_s = conv_d(times), conv_s(times)
    t, _ = first_spikes(conv_d.potentials(times), conv_d.threshold)
    assert torch.equal(t_d, t)  # every crossing
    fired_d, fired_s = (t_d < conv_d.steps).sum(1), (t_s < conv_s.steps).sum(1)
    assert bool((fired_s <= 1).all()) and int(fired_d.max()) > 1  # one map per position, against several
    one = fired_d == 1
    assert torch.equal(t_s.amin(1)[one], t_d.amin(1)[one])
    with pytest.raises(ConfigError, match="lateral_inhibition"):
        parse_card(tomllib.loads(text.replace("lateral_inhibition = false", 'lateral_inhibition = "no"')), "tiny.toml")


def test_rstdp_decision_input_cache_gives_the_same_bits_and_follows_the_feature_weights() -> None:
    """Two runs of one feature epoch and two decision epochs, with and without the cache: the same
    decision weights bit for bit and the same scores; the cache fills only once the features are
    fixed, and a change to a feature layer's weights clears it (the scores follow the new weights)."""
    runs = []
    for cache in (100, 0, 10):
        learner = convert(rstdp_net(), "conv-stdp", options={"readout": "rstdp", "r_plus": 0.05, "p_minus": 0.05,
                                                             "cache_images": cache})
        for epoch in range(3):
            for b in range(3):
                learner.local_step(*digits_like(8, seed=b))
            assert len(learner._cache) == (0 if epoch == 0 or not cache else min(24, 8 * (cache // 8)))
            learner.end_epoch()
        runs.append(learner)
    on, off, full = runs  # full: a cache too small for the images, served without keeping the overflow
    assert torch.equal(on.model[on.decision_at].weight, off.model[off.decision_at].weight)
    assert torch.equal(full.model[full.decision_at].weight, off.model[off.decision_at].weight)
    x = digits_like(8, seed=1)[0]
    assert torch.equal(on(x), off(x)) and len(on._cache) == 24
    with torch.no_grad():
        on.model[1].weight.mul_(0.5)
        off.model[1].weight.mul_(0.5)
    assert torch.equal(on(x), off(x)) and len(on._cache) == 8  # rebuilt for the new weights
    with pytest.raises(SpikefaError, match="cache_images=-1 must be >= 0"):
        convert(rstdp_net(), "conv-stdp", options={"readout": "rstdp", "cache_images": -1})
