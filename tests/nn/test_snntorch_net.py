"""Your own snnTorch network learns by online DFA (spikefa/nn/snntorch_net.py + OnlineDFA): the
tutorial-style ``nn.Sequential`` (init_hidden) gets the card-built network's update bit for bit on
the same weights and spikes, the explicit-state style gets the same as the init_hidden style, the
user's own forward is unchanged, and everything spikefa does not handle is refused in one line
naming the module."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

import spikefa
from spikefa.errors import SpikefaError
from spikefa.nn.online import OnlineDFA
from spikefa.nn.spiking import SpikingNet
from spikefa.schemas.neuron import LIFParams

snn = pytest.importorskip("snntorch")
surrogate = pytest.importorskip("snntorch.surrogate")


def tutorial(beta: float = 0.9, spike_grad=None, reset: str = "subtract") -> nn.Sequential:  # type: ignore[no-untyped-def]
    """The ordinary snnTorch network of the tutorials, written as a user would."""
    kw = {} if spike_grad is None else {"spike_grad": spike_grad}
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(20, 16), snn.Leaky(beta=beta, init_hidden=True, reset_mechanism=reset, **kw),
                         nn.Linear(16, 5), snn.Leaky(beta=beta, init_hidden=True, output=True, reset_mechanism=reset,
                                                     **kw))


class ExplicitState(nn.Module):
    """The explicit-state style of snnTorch's tutorials, with the same weights."""

    def __init__(self, seq: nn.Sequential) -> None:
        super().__init__()
        self.fc1, self.fc2 = seq[1], seq[3]
        self.lif1 = snn.Leaky(beta=float(seq[2].beta))
        self.lif2 = snn.Leaky(beta=float(seq[4].beta))
        # fc1 and fc2 registered before their neurons: refused (layers are read in registration order)

    def forward(self, x: torch.Tensor, mem1: torch.Tensor, mem2: torch.Tensor):  # type: ignore[no-untyped-def]
        spk1, mem1 = self.lif1(self.fc1(x.flatten(1)), mem1)
        spk2, mem2 = self.lif2(self.fc2(spk1), mem2)
        return spk2, mem1, mem2


class ExplicitInOrder(ExplicitState):
    def __init__(self, seq: nn.Sequential) -> None:
        nn.Module.__init__(self)
        self.fc1 = seq[1]
        self.lif1 = snn.Leaky(beta=float(seq[2].beta))
        self.fc2 = seq[3]
        self.lif2 = snn.Leaky(beta=float(seq[4].beta))


def card_twin(seq: nn.Sequential, beta: float = 0.9, surrogate_name: str = "atan", reset: str = "subtract") -> SpikingNet:
    """The card-built network (SpikingNet) with the user's weights copied in."""
    net = SpikingNet([nn.Sequential(nn.Flatten(), nn.Linear(20, 16)), nn.Linear(16, 5)],
                     LIFParams(beta=beta, reset=reset, surrogate=surrogate_name))  # type: ignore[arg-type]
    with torch.no_grad():
        for mine, theirs in zip([net.synapses[0][1], net.synapses[1]], [seq[1], seq[3]]):
            mine.weight.copy_(theirs.weight)
            mine.bias.copy_(theirs.bias)
    return net


def batch(seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(12, 6, 1, 4, 5, generator=g) < 0.4).float(), torch.randint(0, 5, (6,), generator=g)


def grads(model: nn.Module) -> list[torch.Tensor]:
    return [p.grad.clone() for p in model.parameters() if p.grad is not None]


@pytest.mark.parametrize("error", ["count", "membrane"])
@pytest.mark.parametrize("grad, name, reset", [(None, "atan", "subtract"), (surrogate.fast_sigmoid(), "fast-sigmoid", "zero")])
def test_tutorial_sequential_learns_bitwise_like_the_card_network(error: str, grad, name: str, reset: str) -> None:  # type: ignore[no-untyped-def]
    seq = tutorial(spike_grad=grad, reset=reset)
    card = card_twin(seq, surrogate_name=name, reset=reset)
    x, y = batch()
    mine = spikefa.convert(seq, "dfa", seed=3, options={"error": error, "error_every": 2})
    theirs = spikefa.convert(card, "dfa", seed=3, options={"error": error, "error_every": 2})
    assert isinstance(mine, OnlineDFA)
    assert torch.equal(mine.local_step(x, y), theirs.local_step(x, y))
    a, b = grads(mine), grads(theirs)
    assert len(a) == len(b) == 4 and all(torch.equal(u, v) for u, v in zip(a, b))
    assert any(float(g.abs().sum()) > 0 for g in a)


def test_explicit_state_style_equals_the_init_hidden_style() -> None:
    seq = tutorial()
    x, y = batch(2)
    a = spikefa.convert(seq, "dfa", seed=0)
    a.local_step(x, y)
    explicit = ExplicitInOrder(tutorial())
    b = spikefa.convert(explicit, "dfa", seed=0)
    b.local_step(x, y)
    assert all(torch.equal(u, v) for u, v in zip(grads(a), grads(b)))


def test_the_users_own_loop_is_unchanged_and_the_optimiser_steps() -> None:
    from snntorch import utils

    seq, x, y = tutorial(), *batch(3)
    plain = tutorial()
    model = spikefa.convert(seq, "dfa")
    utils.reset(seq)
    utils.reset(plain)
    for t in range(x.shape[0]):  # the user's own time loop through the converted model
        spk_a, mem_a = model(x[t])
        spk_b, mem_b = plain(x[t])
        assert torch.equal(spk_a, spk_b) and torch.equal(mem_a, mem_b)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    before = seq[1].weight.detach().clone()
    opt.zero_grad()
    model.local_step(x, y)
    opt.step()
    assert not torch.equal(before, seq[1].weight)


def test_fa_and_sign_run_through_bptt_in_the_users_loop() -> None:
    from snntorch import utils

    for rule in ("fa", "sign"):
        seq, x, y = tutorial(), *batch(4)
        model = spikefa.convert(seq, rule, seed=0)
        utils.reset(model)
        counts = sum(model(x[t])[0] for t in range(x.shape[0]))
        nn.functional.cross_entropy(counts, y).backward()
        assert seq[1].weight.grad is not None and float(seq[1].weight.grad.abs().sum()) > 0


def _refused(model: nn.Module, *parts: str) -> None:
    with pytest.raises(SpikefaError) as err:
        spikefa.convert(model, "dfa")
    message = str(err.value)
    assert "\n" not in message
    for part in parts:
        assert part in message, (part, message)


def test_what_online_dfa_does_not_handle_is_refused_by_name() -> None:
    lin = nn.Linear(16, 16)
    _refused(nn.Sequential(nn.Linear(20, 16), snn.RSynaptic(alpha=0.8, beta=0.9, linear_features=16,
                                                            init_hidden=True),
                           nn.Linear(16, 5), snn.Leaky(beta=0.9, init_hidden=True, output=True)),
             "'1'", "snntorch.RSynaptic", "supported")
    _refused(nn.Sequential(nn.Linear(20, 16), snn.RLeaky(beta=0.9, all_to_all=False, init_hidden=True),
                           nn.Linear(16, 5), snn.Leaky(beta=0.9, init_hidden=True, output=True)), "RecurrentOneToOne")
    _refused(nn.Sequential(nn.Linear(20, 16), snn.Synaptic(alpha=0.8, beta=0.9, init_hidden=True, reset_mechanism="zero"),
                           nn.Linear(16, 5), snn.Leaky(beta=0.9, init_hidden=True, output=True)), "reset_mechanism='zero'")
    _refused(nn.Sequential(nn.Linear(20, 16), snn.Leaky(beta=0.9, init_hidden=True, learn_beta=True), nn.Linear(16, 5),
                           snn.Leaky(beta=0.9, init_hidden=True, output=True)), "learn_beta=True")
    _refused(nn.Sequential(nn.Linear(20, 16), snn.Leaky(beta=torch.full((8,), 0.9), init_hidden=True),
                           nn.Linear(16, 5), snn.Leaky(beta=0.9, init_hidden=True, output=True)),
             "'1'", "beta of shape (8,)", "one value per neuron")
    _refused(nn.Sequential(nn.Conv2d(1, 2, 3), snn.Leaky(beta=0.9, threshold=torch.ones(2, 1, 1), init_hidden=True),
                           nn.Flatten(), nn.Linear(8, 5), snn.Leaky(beta=0.9, init_hidden=True, output=True)),
             "'1'", "a per-neuron threshold after a Conv2d")
    _refused(nn.Sequential(nn.Conv1d(1, 2, 3), nn.Flatten(), nn.Linear(36, 16), snn.Leaky(beta=0.9, init_hidden=True),
                           nn.Linear(16, 5), snn.Leaky(beta=0.9, init_hidden=True, output=True)), "Conv1d")
    _refused(nn.Sequential(nn.Linear(20, 16), snn.Leaky(beta=0.9, init_hidden=True), nn.Linear(16, 5),
                           snn.Leaky(beta=0.9, init_hidden=True, output=True), nn.Linear(5, 5)), "after the last neuron")
    _refused(nn.Sequential(nn.Linear(20, 16), snn.Leaky(beta=0.9, init_hidden=True), lin,
                           snn.Leaky(beta=0.9, init_hidden=True), lin, snn.Leaky(beta=0.9, init_hidden=True,
                                                                                output=True)), "used again")
    _refused(nn.Sequential(nn.Linear(20, 16), snn.Leaky(beta=0.9, init_hidden=True, spike_grad=lambda x: x),
                           nn.Linear(16, 5), snn.Leaky(beta=0.9, init_hidden=True, output=True)), "surrogate")
    _refused(ExplicitState(tutorial()), "'lif2'", "the order the model registers its modules")


def test_a_convolutional_snntorch_network_learns_like_the_card_lenet() -> None:
    """snnTorch's tutorial conv net shape (conv, max pool, Leaky; Flatten, Linear, Leaky; Linear,
    Leaky) written by a user equals spikefa's spiking LeNet layers on the same weights, bit for bit."""
    torch.manual_seed(0)
    user = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.MaxPool2d(2), snn.Leaky(beta=0.9, init_hidden=True),
                         nn.Flatten(), nn.Linear(4 * 3 * 3, 8), snn.Leaky(beta=0.9, init_hidden=True),
                         nn.Linear(8, 3), snn.Leaky(beta=0.9, init_hidden=True, output=True))
    card = SpikingNet([nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.MaxPool2d(2)),
                       nn.Sequential(nn.Flatten(), nn.Linear(4 * 3 * 3, 8)), nn.Linear(8, 3)], LIFParams(beta=0.9))
    with torch.no_grad():
        for mine, theirs in zip([card.synapses[0][0], card.synapses[1][1], card.synapses[2]], [user[0], user[4], user[6]]):
            mine.weight.copy_(theirs.weight * 3)
            theirs.weight.mul_(3)
            mine.bias.copy_(theirs.bias)
    g = torch.Generator().manual_seed(5)
    x, y = (torch.rand(9, 4, 1, 6, 6, generator=g) < 0.5).float(), torch.tensor([0, 1, 2, 1])
    a = spikefa.convert(user, "dfa", seed=2, input_shape=(1, 6, 6))
    b = spikefa.convert(card, "dfa", seed=2, input_shape=(1, 6, 6))
    assert torch.equal(a.local_step(x, y), b.local_step(x, y))
    ga, gb = grads(a), grads(b)
    assert len(ga) == 6 and all(torch.equal(u, v) for u, v in zip(ga, gb))
    assert float(user[0].weight.grad.abs().sum()) > 0
    with pytest.raises(SpikefaError, match="input_shape"):
        spikefa.convert(user, "dfa")


def test_a_synaptic_network_in_both_styles_learns_the_same() -> None:
    """snnTorch's current-based neuron (Synaptic: two state variables) in the init_hidden and the
    explicit-state style: the same update from online DFA; the network's own forward runs both."""
    torch.manual_seed(0)
    seq = nn.Sequential(nn.Flatten(), nn.Linear(20, 16), snn.Synaptic(alpha=0.7, beta=0.9, init_hidden=True),
                        nn.Linear(16, 5), snn.Synaptic(alpha=0.7, beta=0.9, init_hidden=True, output=True))

    class Explicit(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc1, self.syn1 = copy.deepcopy(seq[1]), snn.Synaptic(alpha=0.7, beta=0.9)  # own copies
            self.fc2, self.syn2 = copy.deepcopy(seq[3]), snn.Synaptic(alpha=0.7, beta=0.9)

    x, y = batch(6)
    a = spikefa.convert(seq, "dfa", seed=1)
    b = spikefa.convert(Explicit(), "dfa", seed=1)
    assert torch.equal(a.local_step(x, y), b.local_step(x, y))
    ga, gb = grads(a), grads(b)
    assert len(ga) == 4 and all(u is not v and torch.equal(u, v) for u, v in zip(ga, gb))
    assert any(float(g.abs().sum()) > 0 for g in ga)
    record = SpikingNet.of(seq)(x)
    assert record.spikes.shape == (12, 6, 5) and record.spikes.sum() >= 0


def test_a_recurrent_hidden_layer_learns_its_recurrent_weights_in_both_styles() -> None:
    """RLeaky (recurrent weights V, e-prop's eligibility): init_hidden and explicit state give the
    same update, V included; the network's own forward runs both."""
    torch.manual_seed(0)
    seq = nn.Sequential(nn.Flatten(), nn.Linear(20, 16), snn.RLeaky(beta=0.9, linear_features=16, init_hidden=True),
                        nn.Linear(16, 5), snn.Leaky(beta=0.9, init_hidden=True, output=True))

    class Explicit(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc1, self.lif1 = copy.deepcopy(seq[1]), snn.RLeaky(beta=0.9, linear_features=16)
            self.lif1.recurrent.load_state_dict(seq[2].recurrent.state_dict())
            self.fc2, self.lif2 = copy.deepcopy(seq[3]), snn.Leaky(beta=0.9)

    x, y = batch(7)
    a = spikefa.convert(seq, "dfa", seed=1)
    b = spikefa.convert(Explicit(), "dfa", seed=1)
    assert torch.equal(a.local_step(x, y), b.local_step(x, y))
    ga, gb = grads(a), grads(b)
    assert len(ga) == 6 and all(torch.equal(u, v) for u, v in zip(ga, gb))
    assert float(seq[2].recurrent.weight.grad.abs().sum()) > 0
    assert SpikingNet.of(seq)(x).spikes.shape == (12, 6, 5)


def test_learnable_beta_and_threshold_train_under_bptt_and_are_refused_online() -> None:
    """learn_beta / learn_threshold are honoured by the BPTT rules (the SpikingNet over the user's
    modules steps them, so their parameters get gradients) and refused, by name, by online DFA."""
    torch.manual_seed(0)
    user = nn.Sequential(nn.Flatten(), nn.Linear(20, 16),
                         snn.Leaky(beta=0.9, learn_beta=True, learn_threshold=True, init_hidden=True),
                         nn.Linear(16, 5), snn.Leaky(beta=0.9, init_hidden=True, output=True))
    with torch.no_grad():
        user[1].weight.mul_(4.0)
    net = spikefa.convert(SpikingNet.of(user), "fa", seed=0)
    x, y = batch(8)
    from spikefa.nn.spiking import scores

    nn.functional.cross_entropy(scores(net(x)), y).backward()
    assert user[2].beta.grad is not None and user[2].threshold.grad is not None
    assert float(user[2].beta.grad.abs()) > 0
    with pytest.raises(SpikefaError, match=r"learn_(beta|threshold)=True\) is not supported by online"):
        spikefa.convert(user, "dfa")
