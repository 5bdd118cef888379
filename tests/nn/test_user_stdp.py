"""STDP and three-factor STDP on a user's own snnTorch network (spikefa/nn/stdp/user.py, rules
``stdp`` / ``three-factor`` in spikefa/rules/stdp.py): `LayerSTDP`'s weights after STDP against an
independent loop over spike pairs and against `spikefa.functional.stdp.stdp_run` on the same
spikes; rule ``stdp`` (`STDPOnlineDFA`): its STDP layer equal to `LayerSTDP`'s and its read-out's
gradient equal to plain online DFA's on the same spikes, ``frozen`` the random-feature control; the
explicit-state style equal to the init_hidden style; three-factor's chosen layer against the
explicit eligibility formula, its output layer against plain online DFA; refusals in one line."""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import spikefa
from spikefa.errors import SpikefaError
from spikefa.functional.eligibility import stdp_eligibility
from spikefa.functional.lif import count_scores
from spikefa.functional.stdp import stdp_run
from spikefa.nn.online import OnlineDFA
from spikefa.nn.spiking import SpikingNet
from spikefa.nn.stdp.user import LayerSTDP, STDPOnlineDFA, ThreeFactorSTDP
from spikefa.schemas.neuron import LIFParams
from spikefa.schemas.stdp import STDPParams

snn = pytest.importorskip("snntorch")
UNBOUNDED = STDPParams(tau_pre=10.0, tau_post=15.0, a_plus=0.02, a_minus=-0.015, w_min=-math.inf, w_max=math.inf)


def user_net(seed: int = 0, gain: float = 3.0) -> nn.Sequential:
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Flatten(), nn.Linear(6, 5), snn.Leaky(beta=0.8, init_hidden=True),
                        nn.Linear(5, 3), snn.Leaky(beta=0.8, init_hidden=True, output=True))
    with torch.no_grad():
        net[1].weight.mul_(gain)
        net[3].weight.mul_(gain)
    return net


class Explicit(nn.Module):
    """The explicit-state style with the same weights (registered in call order)."""

    def __init__(self, seq: nn.Sequential) -> None:
        super().__init__()
        self.fc1, self.lif1 = copy.deepcopy(seq[1]), snn.Leaky(beta=0.8)
        self.fc2, self.lif2 = copy.deepcopy(seq[3]), snn.Leaky(beta=0.8)

    def forward(self, x: torch.Tensor, mem1: torch.Tensor, mem2: torch.Tensor):  # type: ignore[no-untyped-def]
        spk1, mem1 = self.lif1(self.fc1(x.flatten(1)), mem1)
        spk2, mem2 = self.lif2(self.fc2(spk1), mem2)
        return spk2, mem1, mem2


def spikes(T: int = 14, B: int = 3, seed: int = 1) -> torch.Tensor:
    return (torch.rand(T, B, 1, 2, 3, generator=torch.Generator().manual_seed(seed)) < 0.5).float()


def pair_sum(pre: torch.Tensor, post: torch.Tensor, p: STDPParams, dt: float = 1.0) -> torch.Tensor:
    """Σ over every (pre spike at t_p, post spike at t_q) pair of the STDP window, per sample:
    A₊·exp(−(t_q − t_p)·dt/τ_pre) for t_q ≥ t_p (a same-step pair counts as pre first), else
    A₋·exp(−(t_p − t_q)·dt/τ_post). Returns [B, out, in]; an explicit double loop over time."""
    T = pre.shape[0]
    out = torch.zeros(pre.shape[1], post.shape[2], pre.shape[2], dtype=torch.float64)
    for tp in range(T):
        for tq in range(T):
            lag = (tq - tp) * dt
            k = p.a_plus * math.exp(-lag / p.tau_pre) if lag >= 0 else p.a_minus * math.exp(lag / p.tau_post)
            out += k * post[tq].double()[:, :, None] * pre[tp].double()[:, None, :]
    return out


def test_weights_after_stdp_equal_an_independent_loop_over_spike_pairs() -> None:
    """Unbounded additive STDP on both layers, batch of 3 (mean): ΔW is the mean over samples of
    the pair sums of the spikes that actually occurred (recorded while the weights moved)."""
    net = user_net()
    before = [net[1].weight.detach().clone(), net[3].weight.detach().clone()]
    learner = LayerSTDP(net, [0, 1], UNBOUNDED)  # pure STDP, the output layer too
    assert learner.chosen == (0, 1)
    trains = learner.run(spikes(), record=True)
    assert trains is not None
    for (pre, post), w0, w in zip(trains, before, [net[1].weight, net[3].weight]):
        assert pre.shape[:2] == post.shape[:2] == (14, 3) and post.sum() > 0 and pre.sum() > 0
        want = w0.double() + pair_sum(pre, post, UNBOUNDED).mean(0)
        torch.testing.assert_close(w.detach().double(), want, rtol=0, atol=1e-6)
        assert not torch.equal(w.detach(), w0)


def test_brian2_mode_with_bounds_equals_the_sequential_stdp_kernel_on_the_same_spikes() -> None:
    """Mode brian2 (all-to-all, clip into [0, w_max] after each pathway), one sample: the chosen
    layer's weight after the sequence is `stdp_run`'s last weight on the recorded spikes."""
    net = user_net(2, gain=1.0)
    with torch.no_grad():
        net[1].weight.uniform_(0.0, 1.0)
    w0 = net[1].weight.detach().clone()
    p = STDPParams.from_mode("brian2", a_plus=0.2, a_minus=-0.25, w_max=1.0)
    learner = spikefa.convert(net, "stdp", options={"layers": "0", "mode": "brian2", "params": "a_plus=0.2,a_minus=-0.25"})
    assert isinstance(learner, STDPOnlineDFA) and learner.params == p and learner.chosen == (0,)
    ((pre, post),) = LayerSTDP(net, [0], learner.params).run(spikes(20, 1, 3), record=True)  # type: ignore[misc]
    ref, _ = stdp_run(pre, post, w0, p, dt=1.0)
    assert post.sum() > 0 and bool(((ref[-1] == 0) | (ref[-1] == 1)).any())  # the bounds were reached
    torch.testing.assert_close(net[1].weight.detach(), ref[-1], rtol=0, atol=1e-7)
    assert torch.equal(net[3].weight, user_net(2, gain=1.0)[3].weight)  # a layer not chosen stays


def test_explicit_state_style_equals_the_init_hidden_style_and_layers_go_by_name() -> None:
    seq = user_net(4)
    explicit = Explicit(seq)
    x, y = spikes(12, 2, 5), torch.tensor([2, 0])
    a = spikefa.convert(seq, "stdp", options={"layers": [0], "params": UNBOUNDED})
    b = spikefa.convert(explicit, "stdp", options={"layers": "fc1", "params": UNBOUNDED})
    assert a.chosen == b.chosen == (0,)
    assert torch.equal(a.local_step(x, y), b.local_step(x, y))
    assert torch.equal(seq[1].weight, explicit.fc1.weight) and torch.equal(seq[3].weight.grad, explicit.fc2.weight.grad)
    assert not torch.equal(seq[1].weight, user_net(4)[1].weight)
    pure_a, pure_b = user_net(4), Explicit(user_net(4))  # LayerSTDP takes either style too, the output layer too
    LayerSTDP(pure_a, [0, 1], UNBOUNDED).local_step(x)
    LayerSTDP(pure_b, ["fc1", "fc2"], UNBOUNDED).local_step(x)
    assert torch.equal(pure_a[1].weight, pure_b.fc1.weight) and torch.equal(pure_a[3].weight, pure_b.fc2.weight)
    assert not torch.equal(pure_a[3].weight, user_net(4)[3].weight)


def test_layer_stdp_frozen_runs_without_learning_and_a_card_built_spiking_net_is_taken() -> None:
    net = user_net(6)
    w = net[1].weight.detach().clone()
    LayerSTDP(net, params=UNBOUNDED, frozen=True).local_step(spikes())
    assert torch.equal(net[1].weight, w)
    card = SpikingNet([nn.Sequential(nn.Flatten(), nn.Linear(6, 5)), nn.Linear(5, 3)], LIFParams(beta=0.8))
    with torch.no_grad():
        card.synapses[0][1].weight.mul_(3)
    w = card.synapses[0][1].weight.detach().clone()
    learner = spikefa.convert(card, "stdp", options={"params": UNBOUNDED})
    assert isinstance(learner, STDPOnlineDFA) and learner.chosen == (0,)
    learner.local_step(spikes(), torch.tensor([0, 1, 2]))
    assert not torch.equal(card.synapses[0][1].weight, w) and card.synapses[1].weight.grad is not None


def deep_net(seed: int = 0) -> nn.Sequential:
    """6-5-4-3: two hidden layers (one chosen for STDP, one not) and the read-out."""
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Flatten(), nn.Linear(6, 5), snn.Leaky(beta=0.8, init_hidden=True),
                        nn.Linear(5, 4), snn.Leaky(beta=0.8, init_hidden=True),
                        nn.Linear(4, 3), snn.Leaky(beta=0.8, init_hidden=True, output=True))
    with torch.no_grad():
        for i in (1, 3, 5):
            net[i].weight.mul_(3)
    return net


@pytest.mark.parametrize("options", [{"mode": "brian2", "params": "a_plus=0.05,a_minus=-0.04,w_min=-2,w_max=2"},
                                     {"mode": "nearest-soft", "params": "a_plus=0.05,a_minus=-0.04,w_min=-2,w_max=2"},
                                     {"params": UNBOUNDED}])
def test_stdp_features_equal_layer_stdp_and_the_read_out_learns_by_plain_online_dfa(options: dict[str, object]
                                                                                    ) -> None:
    """Rule stdp on a spiking network, batch of 4: the chosen layer's weight after the sequence is
    `LayerSTDP`'s on a twin (bit for bit: the same STDP steps on the same spikes); the read-out's
    gradient and the loss are plain online DFA's (`OnlineDFA` on a one-layer network made of the
    read-out's own modules) fed the hidden spikes `LayerSTDP` recorded; the chosen layer gets no
    gradient, its bias stays."""
    net = user_net(10)
    twin = copy.deepcopy(net)
    x, y = spikes(16, 4, 11), torch.tensor([0, 1, 2, 1])
    learner = spikefa.convert(net, "stdp", seed=3, options=options)
    assert isinstance(learner, STDPOnlineDFA) and learner.chosen == (0,)
    loss = learner.local_step(x, y)
    ((pre, post),) = LayerSTDP(twin, [0], learner.params).run(x, record=True)  # type: ignore[misc]
    assert post.sum() > 0 and not torch.equal(twin[1].weight, user_net(10)[1].weight)
    assert torch.equal(net[1].weight, twin[1].weight)
    assert net[1].weight.grad is None and net[1].bias.grad is None and torch.equal(net[1].bias, twin[1].bias)
    readout = SpikingNet([copy.deepcopy(twin[3])], neurons=[copy.deepcopy(twin[4])])
    plain = OnlineDFA(readout, seed=3)
    want = plain.local_step(post, y)
    w_out = readout.synapses[0].weight
    assert w_out.grad is not None and float(w_out.grad.abs().sum()) > 0
    assert torch.equal(net[3].weight.grad, w_out.grad) and torch.equal(net[3].bias.grad, readout.synapses[0].bias.grad)
    assert torch.equal(loss, want)


def test_frozen_keeps_the_stdp_layer_and_the_rest_learns_by_online_dfa_bit_for_bit() -> None:
    """The random-feature control on 6-5-4-3, layer 0 chosen: its weight and bias stay bitwise and get
    no gradient; layer 1 (hidden, not chosen) and the read-out get plain online DFA's gradients (same
    seed, same feedback), and an optimiser step moves the read-out."""
    net, twin = deep_net(2), deep_net(2)
    x, y = spikes(14, 3, 4), torch.tensor([2, 0, 1])
    w0, b0 = net[1].weight.detach().clone(), net[1].bias.detach().clone()
    learner = spikefa.convert(net, "stdp", seed=5, options={"layers": [0], "frozen": True})
    loss = learner.local_step(x, y)
    want = spikefa.convert(twin, "dfa", seed=5).local_step(x, y)
    assert torch.equal(net[1].weight, w0) and torch.equal(net[1].bias, b0) and net[1].weight.grad is None
    assert torch.equal(loss, want) and float(twin[3].weight.grad.abs().sum()) > 0
    for i in (3, 5):
        assert torch.equal(net[i].weight.grad, twin[i].weight.grad) and torch.equal(net[i].bias.grad, twin[i].bias.grad)
    out = net[5].weight.detach().clone()
    torch.optim.SGD(net.parameters(), lr=0.5).step()
    assert torch.equal(net[1].weight, w0) and not torch.equal(net[5].weight, out)
    learning = deep_net(2)  # not frozen: layer 1 (module '3') moves by STDP, layer 0 learns by online DFA
    spikefa.convert(learning, "stdp", seed=5, options={"layers": [1], "params": UNBOUNDED}).local_step(x, y)
    assert not torch.equal(learning[3].weight, deep_net(2)[3].weight) and learning[3].weight.grad is None
    assert torch.equal(learning[1].weight, w0) and float(learning[1].weight.grad.abs().sum()) > 0


def _refused(model: nn.Module, rule: str, options: dict[str, object], *parts: str, **kwargs: object) -> None:
    with pytest.raises(SpikefaError) as err:
        spikefa.convert(model, rule, options=options, **kwargs)  # type: ignore[arg-type]
    message = str(err.value)
    assert "\n" not in message
    for part in parts:
        assert part in message, (part, message)


def test_what_stdp_on_a_user_network_does_not_handle_is_refused_by_name() -> None:
    conv = nn.Sequential(nn.Conv2d(1, 2, 3), nn.MaxPool2d(2), snn.Leaky(beta=0.9, init_hidden=True),
                         nn.Flatten(), nn.Linear(8, 3), snn.Leaky(beta=0.9, init_hidden=True, output=True))
    _refused(conv, "stdp", {"layers": [0]}, "layer 0 (module '0', Conv2d) is not an nn.Linear", input_shape=(1, 6, 6))
    _refused(user_net(), "stdp", {"layers": [1]}, "module '3'", "is the output layer, which learns by online DFA")
    _refused(user_net(), "stdp", {"reduction": "max"}, "reduction='max' is not allowed")
    _refused(user_net(), "stdp", {"layers": [2]}, "layer index 2 is out of range", "module '3'")
    _refused(Explicit(user_net()), "stdp", {"layers": "fc3"}, "no layer is the module 'fc3'", "'fc1'")
    _refused(user_net(), "stdp", {"learning_rate": 0.1}, "has no option 'learning_rate'", "layers")
    _refused(user_net(), "stdp", {"params": {"tau": 3.0}}, "'tau' is not an STDP constant")
    _refused(user_net(), "stdp", {"label_samples": 10}, "'label_samples' does not apply to Sequential")
    _refused(user_net(), "stdp", {"mode": "hebb"}, "mode='hebb' is not allowed")
    _refused(user_net(), "three-factor", {"layers": [1]}, "module '3'", "is the output layer")
    _refused(user_net(), "three-factor", {"params": STDPParams()}, "bounds must be 'hard' and clip 'none'")
    from spikefa.nn.stdp import DiehlCookNet
    from spikefa.schemas.stdp import DiehlCookParams

    _refused(DiehlCookNet(DiehlCookParams(n_input=4, n_exc=2)), "stdp", {"layers": [0]},
             "'layers' does not apply to DiehlCookNet")


@pytest.mark.parametrize("tau_elig", [math.inf, 30.0])
def test_three_factor_on_a_user_network_equals_the_explicit_formulation(tau_elig: float) -> None:
    """Chosen hidden layer: grad = (1/B) Σ_b (e_b·B_0) ⊙ E_b(T), e from the network's count read-out
    at the end, E from an explicit pair loop (τ_e = inf) or `stdp_eligibility` (finite τ_e) on spikes
    recorded through snnTorch's own forward; output layer: plain online DFA's update, bit for bit."""
    from snntorch import utils

    net = user_net(8)
    twin = copy.deepcopy(net)
    x, y = spikes(16, 4, 9), torch.tensor([0, 1, 2, 1])
    learner = spikefa.convert(net, "three-factor", seed=3, options={"tau_elig": tau_elig})
    assert isinstance(learner, ThreeFactorSTDP) and learner.chosen == (0,)
    learner.local_step(x, y)
    assert net[1].bias.grad is None  # STDP has no bias rule; online DFA leaves the chosen layer alone
    utils.reset(twin)
    pre, post, counts, memsum = [], [], torch.zeros(4, 3), torch.zeros(4, 3)
    with torch.no_grad():
        for x_t in x:
            h = x_t.flatten(1)
            s1 = twin[2](twin[1](h))
            s2, u2 = twin[4](twin[3](s1))
            pre.append(h)
            post.append(s1)
            counts, memsum = counts + s2, memsum + u2
    pre_t, post_t = torch.stack(pre), torch.stack(post)
    assert post_t.sum() > 0
    e = torch.softmax(count_scores(counts, memsum), 1) - F.one_hot(y, 3).float()
    third = e @ learner.feedback_matrix(0)
    p = learner.params
    assert (p.a_plus, p.a_minus, p.w_max) == (1.0, -0.5, math.inf)
    elig = pair_sum(pre_t, post_t, p).float() if math.isinf(tau_elig) else stdp_eligibility(pre_t, post_t, p, 1.0,
                                                                                           tau_elig)
    want = (third[:, :, None] * elig).mean(0)
    torch.testing.assert_close(net[1].weight.grad, want, rtol=1e-5, atol=1e-6)
    assert float(want.abs().sum()) > 0
    plain = spikefa.convert(twin, "dfa", seed=3)
    plain.local_step(x, y)
    assert torch.equal(net[3].weight.grad, twin[3].weight.grad) and torch.equal(net[3].bias.grad, twin[3].bias.grad)


def test_three_factor_gain_scales_and_frozen_keeps_the_chosen_layer() -> None:
    x, y = spikes(12, 3, 2), torch.tensor([0, 1, 2])
    a, b, c = user_net(1), user_net(1), user_net(1)
    spikefa.convert(a, "three-factor", options={"gain": 1.0}).local_step(x, y)
    spikefa.convert(b, "three-factor", options={"gain": 0.25}).local_step(x, y)
    torch.testing.assert_close(b[1].weight.grad, 0.25 * a[1].weight.grad)
    spikefa.convert(c, "three-factor", options={"frozen": True}).local_step(x, y)
    assert c[1].weight.grad is None and torch.equal(c[3].weight.grad, a[3].weight.grad)


def test_options_survive_a_stored_run_config_and_the_harness_drives_the_learners() -> None:
    """What `spikefa train` does with a spiking card: options stored as JSON and parsed again give the
    same STDP; the encoded model steps the learner (STDP layers move, the read-out gets a gradient),
    and the rule declares a label assignment for the Diehl & Cook network only (a spiking network is
    read out by its own online-DFA-trained output layer)."""
    import dataclasses
    import json

    from spikefa.functional.encoders import RateEncoder
    from spikefa.nn.online import EncodedSNN
    from spikefa.rules.registry import get_rule, resolve_options

    rule = get_rule("stdp")
    given = resolve_options(rule, {"layers": "0,1", "params": STDPParams.from_mode("nearest-soft", a_plus=0.5)})
    stored = json.loads(json.dumps({k: dataclasses.asdict(v) if dataclasses.is_dataclass(v) else v
                                    for k, v in given.items()}))
    again = resolve_options(rule, stored)
    assert again["layers"] == (0, 1) and again["params"] == given["params"]
    card = SpikingNet([nn.Sequential(nn.Flatten(), nn.Linear(6, 5)), nn.Linear(5, 3)], LIFParams(beta=0.8))
    with torch.no_grad():
        card.synapses[0][1].weight.mul_(3)
    w = card.synapses[0][1].weight.detach().clone()
    again["layers"] = (0,)  # the output layer learns by online DFA
    model = EncodedSNN(spikefa.convert(card, "stdp", options=again), RateEncoder(6), seed=0)
    x, y = torch.rand(4, 1, 2, 3), torch.tensor([0, 1, 2, 0])
    loss = model.local_step(x, y)
    assert loss is not None and loss.ndim == 0 and not torch.equal(card.synapses[0][1].weight, w)
    assert card.synapses[1].weight.grad is not None
    assert rule.learns_online(model) and not rule.assigns_labels_for(model)
    assert model(x).shape == (4, 3)
    from spikefa.nn.stdp import DiehlCookNet
    from spikefa.schemas.stdp import DiehlCookParams

    diehl_cook = spikefa.convert(DiehlCookNet(DiehlCookParams(n_input=4, n_exc=2)), "stdp")
    assert rule.assigns_labels_for(diehl_cook) and callable(diehl_cook.assign_labels)
    assert get_rule("stdp-readout").assigns_labels_for(diehl_cook) and not get_rule("dfa").assigns_labels_for(model)
