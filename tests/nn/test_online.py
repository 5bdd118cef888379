"""Online learners (spikefa/nn/online.py): OnlineDFA's per-time-step updates against BPTT (one layer,
no reset) and against explicit double sums over recorded states (membrane and count errors), what
it owns and refuses, and EncodedSNN's repeatable eval and resumable training stream."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from spikefa.errors import SpikefaError
from spikefa.functional.encoders import RateEncoder
from spikefa.nn.online import EncodedSNN, OnlineDFA
from spikefa.nn.spiking import SpikingNet, scores
from spikefa.schemas.neuron import LIFParams

from spikefa.functional.lif import atan_grad as SURROGATE

from ..helpers import online_and_bptt_grads, spiking_net


def test_online_dfa_output_layer_equals_bptt_without_reset() -> None:
    """One layer, reset 'none': U[t] = Σ β^(t−k) W x[k] exactly, so the online update of W is the
    gradient of Σ_t CE(U[t]) / T that BPTT computes."""
    torch.manual_seed(0)
    x = (torch.rand(12, 5, 7) < 0.4).float()
    y = torch.randint(0, 3, (5,))
    net = spiking_net([7, 3], reset="none")
    learner = OnlineDFA(net, error="membrane")
    learner.local_step(iter(x), y)
    online = [p.grad.clone() for p in net.parameters()]
    net.zero_grad()
    mems = net(x).mem
    loss = sum(F.cross_entropy(m, y) for m in mems) / len(mems)
    loss.backward()
    for a, p in zip(online, net.parameters()):
        torch.testing.assert_close(a, p.grad, rtol=1e-5, atol=1e-6)


def test_online_dfa_hidden_update_equals_explicit_sums() -> None:
    """Hidden layer: the recursive trace against Σ_t Σ_k β^(t−k) over recorded states."""
    torch.manual_seed(1)
    T, beta = 10, 0.8
    x = (torch.rand(T, 4, 6) < 0.5).float()
    y = torch.randint(0, 3, (4,))
    net = spiking_net([6, 9, 3], beta=beta, seed=2)
    learner = OnlineDFA(net, "random", seed=5, error="membrane")
    learner.local_step(iter(x), y)
    got = net.synapses[0].weight.grad.clone()
    # record the forward, then apply the formula with explicit double sums
    from spikefa.functional.lif import LIFState, atan_grad, lif_step

    s0, s1 = LIFState(torch.zeros(4, 9)), LIFState(torch.zeros(4, 3))
    B = learner.feedback_matrix(0)
    want = torch.zeros_like(got)
    for t in range(T):
        h, s0 = lif_step(F.linear(x[t], net.synapses[0].weight, net.synapses[0].bias), s0, net.lif[0])
        _, s1 = lif_step(F.linear(h, net.synapses[1].weight, net.synapses[1].bias), s1, net.lif[1])
        err = torch.softmax(s1.mem, 1) - F.one_hot(y, 3).float()
        delta = (err @ B) * atan_grad(s0.mem - 1.0)
        trace = sum(beta ** (t - k) * x[k] for k in range(t + 1))
        want += delta.t() @ trace
    torch.testing.assert_close(got, want / (T * 4), rtol=1e-5, atol=1e-6)


def test_online_dfa_count_error_equals_explicit_sums() -> None:
    """error=count: the error is the cross-entropy gradient of the running read-out (`scores` of
    the output so far), gated by the output surrogate, in both layers; against recorded states."""
    torch.manual_seed(3)
    T, beta, k = 12, 0.8, 3
    x = (torch.rand(T, 4, 6) < 0.6).float()
    y = torch.randint(0, 3, (4,))
    net = spiking_net([6, 9, 3], beta=beta, seed=4)
    learner = OnlineDFA(net, "random", seed=5, error_every=k, error="count")
    loss = learner.local_step(iter(x), y)
    got = [m.weight.grad.clone() for m in learner.layers]
    from spikefa.functional.lif import LIFState, atan_grad, lif_step
    from spikefa.nn.spiking import SpikeRecord

    s0, s1 = LIFState(torch.zeros(4, 9)), LIFState(torch.zeros(4, 3))
    B = learner.feedback_matrix(0)
    want = [torch.zeros_like(g) for g in got]
    hs, out_spikes, out_mems, losses = [], [], [], []
    for t in range(T):
        h, s0 = lif_step(F.linear(x[t], net.synapses[0].weight, net.synapses[0].bias), s0, net.lif[0])
        o, s1 = lif_step(F.linear(h, net.synapses[1].weight, net.synapses[1].bias), s1, net.lif[1])
        hs.append(h)
        out_spikes.append(o)
        out_mems.append(s1.mem)
        if (t + 1) % k:
            continue
        readout = scores(SpikeRecord(torch.stack(out_spikes), torch.stack(out_mems)))
        losses.append(F.cross_entropy(readout, y))
        err = (torch.softmax(readout, 1) - F.one_hot(y, 3).float()) * atan_grad(s1.mem - 1.0)
        want[0] += ((err @ B) * atan_grad(s0.mem - 1.0)).t() @ sum(beta ** (t - j) * x[j] for j in range(t + 1))
        want[1] += err.t() @ sum(beta ** (t - j) * hs[j] for j in range(t + 1))
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b / (T // k * 4), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(loss, torch.stack(losses).mean())


def test_online_dfa_owns_only_its_network_and_sizes_conv_feedback_from_the_input_shape() -> None:
    net = spiking_net([6, 9, 3])
    extra = torch.nn.Parameter(torch.ones(2))
    extra.grad = torch.full((2,), 7.0)
    OnlineDFA(net).local_step(iter((torch.rand(5, 2, 6) < 0.5).float()), torch.tensor([0, 2]))
    assert torch.equal(extra.grad, torch.full((2,), 7.0))
    assert all(p.grad is not None for p in net.parameters())
    conv = SpikingNet([torch.nn.Conv2d(1, 2, 3), torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(8, 3))],
                      LIFParams(beta=0.9, threshold=1.0, reset="zero", dt=1.0))
    with pytest.raises(SpikefaError, match=r"input_shape=\(C, H, W\)"):
        OnlineDFA(conv)
    assert OnlineDFA(conv, input_shape=(1, 4, 4)).feedbacks[0].fixed.shape == (3, 2 * 2 * 2)
    with pytest.raises(SpikefaError, match="one nn.Linear or nn.Conv2d per layer"):
        OnlineDFA(SpikingNet([torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 4), torch.nn.Linear(4, 3))],
                             LIFParams(beta=0.9)))


def test_encoded_snn_eval_is_repeatable_and_training_stream_resumes() -> None:
    def flatspiking_net() -> SpikingNet:
        net = spiking_net([16, 8, 3])
        net.synapses[0] = torch.nn.Sequential(torch.nn.Flatten(), net.synapses[0])
        return net

    model = EncodedSNN(flatspiking_net(), RateEncoder(6), seed=4)
    x = torch.rand(3, 1, 4, 4)
    model.eval()
    assert torch.equal(model(x), model(x))
    model.train()
    model(x)
    state = model.state_dict()
    a = model(x)
    clone = EncodedSNN(flatspiking_net(), RateEncoder(6), seed=0)
    clone.load_state_dict(state)
    clone.train()
    assert torch.equal(clone(x), a)
    events = torch.randint(0, 3, (3, 6, 1, 4, 4), dtype=torch.uint8)
    assert model(events).shape == (3, 3)




POOLS = {"none": (None, 6), "avg": (torch.nn.AvgPool2d(2), 3), "max": (torch.nn.MaxPool2d(2), 3),
         "max-overlapping": (torch.nn.MaxPool2d(3, stride=1, padding=1), 6)}


@pytest.mark.parametrize("pool", list(POOLS))
def test_conv_online_dfa_equals_explicit_double_sums(pool: str) -> None:
    """A conv layer (+ pooling) under a Linear read-out, subtract reset, membrane error every
    step: the conv weight's update is Σ_t Σ_{s<=t} β^(t−s) conv_weight_grad(x[s], P^T δ[t]) with
    δ[t] = (e[t]·B)·σ'(U[t] − θ) at the pooled map, e[t] = softmax(U_L[t]) − onehot; written out
    with the convolution's adjoint and the pooling's (an average: spread over its window; a max:
    torch's max_pool2d backward on NCHW maps) instead of the learner's traces and
    its channels-last pooling with saved indices."""
    torch.manual_seed(0)
    pool_op, side = POOLS[pool]
    ops = [torch.nn.Conv2d(2, 3, 3, padding=1)] + ([pool_op] if pool_op is not None else [])
    net = SpikingNet([torch.nn.Sequential(*ops), torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * side * side, 4))],
                     LIFParams(beta=0.8, threshold=0.5, reset="subtract", dt=1.0))
    with torch.no_grad():
        net.synapses[0][0].weight.mul_(3.0)
    learner = OnlineDFA(net, "random", seed=1, error="membrane", input_shape=(2, 6, 6))
    g = torch.Generator().manual_seed(2)
    x = (torch.rand(7, 3, 2, 6, 6, generator=g) < 0.5).float()
    y = torch.tensor([0, 3, 1])
    learner.local_step(x, y)
    conv, lin = net.synapses[0][0], net.synapses[1][1]
    B = learner.feedback_matrix(0)
    # the forward pass, recorded: inputs, membranes (subtract reset) of both layers
    u1 = torch.zeros(3, 3, side, side)
    u2 = torch.zeros(3, 4)
    s1 = torch.zeros_like(u1)
    s2 = torch.zeros_like(u2)
    want = torch.zeros_like(conv.weight)
    xs = []
    with torch.no_grad():
        for t in range(7):
            xs.append(x[t])
            z = torch.nn.functional.conv2d(x[t], conv.weight, conv.bias, padding=1)
            cur = pool_op(z) if pool_op is not None else z
            u1 = 0.8 * u1 + cur - 0.5 * s1
            s1 = (u1 > 0.5).float()
            u2 = 0.8 * u2 + torch.nn.functional.linear(s1.flatten(1), lin.weight, lin.bias) - 0.5 * s2
            s2 = (u2 > 0.5).float()
            e = torch.softmax(u2, 1) - torch.nn.functional.one_hot(y, 4).float()
            delta = (e @ B).view_as(u1) * SURROGATE(u1 - 0.5)
            if pool == "avg":  # P^T: the adjoint of the 2x2 average
                delta = torch.nn.functional.interpolate(delta, scale_factor=2, mode="nearest") / 4
            elif pool_op is not None:  # a max pool's adjoint, by autograd on the NCHW map
                with torch.enable_grad():
                    z_ = z.detach().requires_grad_(True)
                    (delta,) = torch.autograd.grad(pool_op(z_), z_, delta)
            for s_ in range(t + 1):
                want += 0.8 ** (t - s_) * torch.nn.grad.conv2d_weight(xs[s_], conv.weight.shape, delta, padding=1)
    torch.testing.assert_close(conv.weight.grad, want / (7 * 3), rtol=1e-4, atol=1e-6)
    assert float(want.abs().sum()) > 0


@pytest.mark.parametrize("op", [torch.nn.MaxPool2d(2), torch.nn.MaxPool2d(3, stride=1, padding=1),
                                torch.nn.MaxPool2d(2, ceil_mode=True)])
def test_max_pool_route_equals_autograd_with_ties(op: torch.nn.MaxPool2d) -> None:
    """The learner's max pool (channels-last, indices saved) gives torch's NCHW maxima and routes δ
    as autograd does, to the first maximum of each window, on a map full of ties (an input with no
    spikes under a window leaves the conv's bias at every position)."""
    from spikefa.nn.synapse import ROUTES

    g = torch.Generator().manual_seed(0)
    z = torch.randint(0, 2, (2, 3, 5, 5), generator=g).float()
    pooled, back = ROUTES[torch.nn.MaxPool2d](op, z)
    z_ = z.clone().requires_grad_(True)
    want = op(z_)
    assert torch.equal(pooled, want) and pooled.is_contiguous()
    delta = torch.randn(want.shape, generator=g)
    (grad,) = torch.autograd.grad(want, z_, delta)
    torch.testing.assert_close(back(delta), grad, rtol=0, atol=1e-6)


def test_synaptic_output_layer_equals_bptt_without_reset() -> None:
    """snnTorch's current-based Synaptic neuron, one layer, reset 'none': I_syn[t] = α I_syn[t−1] + W x[t],
    U[t] = β U[t−1] + I_syn[t], so ∂U[t]/∂W = Σ_k (Σ_j β^(t−j) α^(j−k)) x[k]: the learner's two traces
    (α, then β) give BPTT's gradient of Σ_t CE(U[t]) / T through the neuron's own forward."""
    snn = pytest.importorskip("snntorch")
    torch.manual_seed(0)
    x = (torch.rand(12, 5, 7) < 0.4).float()
    y = torch.randint(0, 3, (5,))
    lin = torch.nn.Linear(7, 3)
    net = SpikingNet([lin], neurons=[snn.Synaptic(alpha=0.7, beta=0.8, reset_mechanism="none")])
    assert net.lif[0].alpha == pytest.approx(0.7)
    online = online_and_bptt_grads(net, x, y)
    assert float(online[0].abs().sum()) > 0


def test_rleaky_recurrent_eligibility_equals_bptt_with_detached_recurrent_spikes() -> None:
    """snnTorch's RLeaky, one layer, reset 'none': U[t] = β U[t−1] + W x[t] + V s[t−1]. Online DFA's
    eligibility for V is e-prop's (Bellec et al. 2020): the β-filtered presynaptic spikes s[t−1],
    without the path through the spikes' own dependence on V; that is exactly BPTT's gradient of
    Σ_t CE(U[t]) / T when the recurrent spikes are detached, written here with autograd."""
    snn = pytest.importorskip("snntorch")
    torch.manual_seed(0)
    x = (torch.rand(15, 5, 7) < 0.5).float()
    y = torch.randint(0, 3, (5,))
    lin = torch.nn.Linear(7, 3)
    neuron = snn.RLeaky(beta=0.8, linear_features=3, reset_mechanism="none")
    with torch.no_grad():
        lin.weight.mul_(3.0)
        neuron.recurrent.weight.normal_(0, 0.8)
    net = SpikingNet([lin], neurons=[neuron])
    OnlineDFA(net, error="membrane").local_step(iter(x), y)
    online = {n: p.grad.clone() for n, p in net.named_parameters()}
    assert set(online) == {"synapses.0.weight", "synapses.0.bias", "neurons.0.recurrent.weight",
                           "neurons.0.recurrent.bias"}
    params = [lin.weight, lin.bias, neuron.recurrent.weight, neuron.recurrent.bias]
    u, s, loss = torch.zeros(5, 3), torch.zeros(5, 3), 0.0
    for t in range(15):
        u = 0.8 * u + F.linear(x[t], params[0], params[1]) + F.linear(s.detach(), params[2], params[3])
        s = (u > 1.0).float()
        loss = loss + F.cross_entropy(u, y)
    want = torch.autograd.grad(loss / 15, params)
    for name, w in zip(["synapses.0.weight", "synapses.0.bias", "neurons.0.recurrent.weight",
                        "neurons.0.recurrent.bias"], want):
        torch.testing.assert_close(online[name], w, rtol=1e-5, atol=1e-6)
    assert float(online["neurons.0.recurrent.weight"].abs().sum()) > 0
    net.zero_grad()
    assert net(x).spikes.shape == (15, 5, 3)  # the network's own forward steps the RLeaky


def test_channel_shared_conv_feedback_equals_position_feedback_with_repeated_columns() -> None:
    """conv_feedback='channel' draws B_l [classes, C] and spreads each column over the channel's H·W
    positions: the same updates as the per-position learner whose B_l holds those repeated columns."""
    torch.manual_seed(0)

    def net() -> SpikingNet:
        torch.manual_seed(3)
        return SpikingNet([torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3, padding=1), torch.nn.MaxPool2d(2)),
                           torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 3 * 3, 4))],
                          LIFParams(beta=0.8, threshold=0.3, reset="subtract", dt=1.0))

    shared = OnlineDFA(net(), seed=1, input_shape=(2, 6, 6), conv_feedback="channel")
    assert shared.feedbacks[0].fixed.shape == (4, 3)
    full = OnlineDFA(net(), seed=1, input_shape=(2, 6, 6))
    with torch.no_grad():
        full.feedbacks[0].fixed.copy_(shared.feedbacks[0].fixed.repeat_interleave(9, dim=1))
    B = shared.feedback_matrix(0)
    assert B.shape == (4, 27) and torch.equal(B[:, :9], B[:, :1].expand(4, 9))
    x = (torch.rand(6, 3, 2, 6, 6) < 0.5).float()
    y = torch.tensor([0, 3, 1])
    shared.local_step(x, y)
    full.local_step(x, y)
    for a, b in zip(shared.net.parameters(), full.net.parameters()):
        assert torch.equal(a.grad, b.grad)
    assert float(shared.net.synapses[0][0].weight.grad.abs().sum()) > 0
    with pytest.raises(SpikefaError, match="conv_feedback='pixel' is unknown"):
        OnlineDFA(net(), input_shape=(2, 6, 6), conv_feedback="pixel")


@pytest.mark.parametrize("conf", [dict(), dict(stride=2), dict(stride=(2, 3), padding=(1, 2)), dict(padding=2),
                                  dict(stride=2, padding=1, kernel_size=4), dict(groups=2), dict(dilation=2),
                                  dict(padding="same"), dict(padding="valid", stride=2)])
def test_conv_weight_grad_equals_autograd(conf: dict) -> None:
    """The learner's conv weight gradient (a convolution of the input with the error as the kernel)
    equals autograd's ∂(Σ δ·conv(x))/∂W for strides, paddings (string ones too) and kernel sizes,
    and falls back to ``conv2d_weight`` for groups and dilation."""
    from spikefa.nn.layers import conv_padding
    from spikefa.nn.synapse import Synapse, conv_weight_grad

    kwargs = {"kernel_size": 3, **conf}
    conv = torch.nn.Conv2d(4, 6, **kwargs)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(3, 4, 11, 10, generator=g)
    out = conv(x)
    delta = torch.randn(out.shape, generator=g)
    (want,) = torch.autograd.grad(out, conv.weight, delta)
    torch.testing.assert_close(conv_weight_grad(conv, x, delta, conv_padding(conv)), want, rtol=1e-5, atol=1e-5)
    _, current = Synapse.of(conv).currents(x, conv.weight, conv.bias)  # the learner's forward: the layer's own
    torch.testing.assert_close(current, out.detach(), rtol=1e-6, atol=1e-6)


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
def test_conv_paddings_online_dfa_cannot_step_are_refused_by_name_and_stdp_still_runs() -> None:
    """Online DFA steps the convolution itself, so a reflect padding (or 'same' with an even kernel)
    is refused at conversion, naming the layer; STDP on the Linear layers of the same network runs
    the conv's own forward and takes it."""
    from spikefa.nn.stdp.user import LayerSTDP

    for conv in [torch.nn.Conv2d(1, 2, 3, padding=1, padding_mode="reflect"), torch.nn.Conv2d(1, 2, 2, padding="same")]:
        net = SpikingNet([torch.nn.Sequential(conv, torch.nn.MaxPool2d(2)),
                          torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(18, 5)), torch.nn.Linear(5, 4)],
                         LIFParams(beta=0.9, threshold=0.5, reset="subtract", dt=1.0))
        with pytest.raises(SpikefaError, match=r"online learners: Conv2d\(1, 2.*(padding_mode='zeros' only|odd kernel)"):
            OnlineDFA(net, input_shape=(1, 6, 6))
        x = (torch.rand(4, 2, 1, 6, 6, generator=torch.Generator().manual_seed(0)) < 0.5).float()
        LayerSTDP(net, [1]).local_step(x)


def test_sign_feedback_with_channel_shared_conv_feedback_is_refused() -> None:
    net = SpikingNet([torch.nn.Sequential(torch.nn.Conv2d(1, 3, 3, padding=1), torch.nn.MaxPool2d(2)),
                      torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(27, 4))],
                     LIFParams(beta=0.9, threshold=0.5, reset="subtract", dt=1.0))
    with pytest.raises(SpikefaError, match="conv_feedback='channel'"):
        OnlineDFA(net, "sign", input_shape=(1, 6, 6), conv_feedback="channel")


def test_dropout_after_a_conv_routes_the_error_through_the_mask_the_forward_drew() -> None:
    from spikefa.nn.synapse import ROUTES

    op = torch.nn.Dropout(0.5).train()
    z = torch.ones(2, 3, 4, 4)
    out, back = ROUTES[torch.nn.Dropout](op, z)
    kept = out != 0
    assert 0 < int(kept.sum()) < kept.numel()
    delta = torch.full_like(z, 3.0)
    torch.testing.assert_close(back(delta), torch.where(kept, 6.0, 0.0))
    out, back = ROUTES[torch.nn.Dropout](op.eval(), z)
    assert out is z and back(delta) is delta
