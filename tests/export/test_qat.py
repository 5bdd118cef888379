"""Quantisation-aware training: forward weights on the profile's grid, gradients straight through,
with backprop, feedback alignment, sign symmetry, DFA (feedback quantised too) and local updates."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import parametrize

from spikefa.export.qat import master_weight, prepare_qat, remove_qat
from spikefa.export.quantize import quantize
from spikefa.export.simulate import dequantize, run_int
from spikefa.rules.registry import convert

from .nets import profile, spikes, tiny_net


def _linears(net: nn.Module) -> list[nn.Linear]:
    return [m for m in net.modules() if isinstance(m, nn.Linear)]


def test_forward_weights_are_on_the_grid_and_ptq_after_qat_is_lossless() -> None:
    net = prepare_qat(tiny_net(), profile("int8-edge"), bits=4)
    qnet = quantize(net, profile("int8-edge"), bits=4)
    for lin, fq in zip(_linears(net), dequantize(qnet, torch.float64)):
        assert torch.allclose(lin.weight.double(), fq.weight, atol=1e-6)
        assert torch.allclose(lin.bias.double(), fq.bias, atol=1e-6)
    step = (qnet.layers[0].unit * 2 ** qnet.layers[0].weight_shift)[:, None]
    k = _linears(net)[0].weight.double() / step
    assert torch.allclose(k, k.round(), atol=1e-4) and int(k.round().abs().max()) <= 7


def test_gradients_go_straight_through() -> None:
    net = prepare_qat(tiny_net(), profile("loihi2"), bits=4)
    lin = _linears(net)[1]
    x, g = torch.rand(3, 16), torch.randn(3, 5)
    (lin(x) * g).sum().backward()
    assert torch.allclose(master_weight(lin).grad, g.T @ x, atol=1e-5)
    assert torch.allclose(lin.parametrizations.bias.original.grad, g.sum(0), atol=1e-5)


def _spiking_loss(net: nn.Module) -> torch.Tensor:
    rec = net(spikes(8, 4, 20, rate=0.4).reshape(8, 4, 1, 4, 5))
    return ((rec.spikes.sum(0) - torch.tensor([3.0, 0, 1, 0, 2])) ** 2).mean() + rec.mem.pow(2).mean()


def test_qat_trains_with_backprop_fa_and_sign_symmetry() -> None:
    for rule, feedback in (("bp", None), ("fa", "random"), ("sign", "sign")):
        net = convert(tiny_net(), rule, feedback, seed=0)
        prepare_qat(net, profile("int8-edge"), bits=4, quantize_feedback=True)
        params = [p for p in net.parameters() if p.requires_grad]
        before = [p.detach().clone() for p in params]
        opt = torch.optim.SGD(params, lr=0.05)
        _spiking_loss(net).backward()
        grads = [master_weight(m).grad for m in _linears(net)]
        assert all(g is not None and bool(g.abs().sum() > 0) and bool(torch.isfinite(g).all()) for g in grads), rule
        opt.step()
        assert any(not torch.equal(a, b) for a, b in zip(before, params)), rule
        if rule == "fa":
            fb = [m for m in net.modules() if parametrize.is_parametrized(m, "feedback_fixed")]
            assert fb and all(m.feedback_fixed.unique().numel() <= 15 for m in fb)


def test_dfa_with_quantized_feedback() -> None:
    torch.manual_seed(0)
    net = convert(nn.Sequential(nn.Linear(10, 12), nn.Tanh(), nn.Linear(12, 4)), "dfa", "random", seed=0)
    prepare_qat(net, profile("int8-edge"), bits=2, quantize_feedback=True)
    fb = net.feedbacks[0]
    assert parametrize.is_parametrized(fb, "fixed") and set(fb.fixed.sign().unique().tolist()) <= {-1.0, 0.0, 1.0}
    assert fb.fixed.abs().unique().numel() <= 2  # {0, step}: ternary
    out = net(torch.randn(5, 10))
    nn.functional.cross_entropy(out, torch.tensor([0, 1, 2, 3, 0])).backward()
    assert all(bool(master_weight(m).grad.abs().sum() > 0) for m in _linears(net))
    w = net.blocks[0][0].weight.detach()
    assert set((w / w.abs().amax(dim=1, keepdim=True)).abs().unique().tolist()) <= {0.0, 1.0}  # per-channel ternary


def test_local_updates_below_one_step_accumulate() -> None:
    """STDP-style rules write weights; updates below one grid step must accumulate, not vanish."""
    net = prepare_qat(tiny_net(), profile("int8-edge"), bits=8)
    lin = _linears(net)[1]
    row = lin.weight.detach()[0].abs()
    j = int(row.argmin())  # not the row's max, so the per-channel step stays put
    q = quantize(net, profile("int8-edge")).layers[1]
    step = float(q.unit[0] * 2**q.weight_shift)
    start = lin.weight.detach()[0, j].item()
    dw = torch.zeros_like(lin.weight)
    dw[0, j] = 0.3 * step
    for _ in range(5):
        with torch.no_grad():
            lin.weight = lin.weight + dw  # assignment goes through right_inverse, keeping the residual
    assert round((lin.weight.detach()[0, j].item() - start) / step) in (1, 2)
    with torch.no_grad():
        master_weight(lin)[0, j] += 2.0 * step
    assert round((lin.weight.detach()[0, j].item() - start) / step) in (3, 4)


def test_qat_forward_runs_the_integer_dynamics() -> None:
    """β̂ and the floored state make the QAT forward pass the integer simulator's (floor decays)."""
    net = tiny_net((20, 16, 5), gain=5.0)
    prepare_qat(net, profile("int8-edge"), bits=4)
    x = spikes(12, 6, 20, rate=0.4)
    with torch.no_grad():
        qat_out = net(x.reshape(12, 6, 1, 4, 5)).spikes
    ref = run_int(quantize(net, profile("int8-edge"), bits=4), x).out
    assert float((qat_out == ref).double().mean()) >= 0.995 and int(ref.sum()) > 0  # exact here; float32 may differ
    remove_qat(net)
    assert not parametrize.is_parametrized(_linears(net)[0])
    assert abs(float(net.neurons[0].beta) - 0.9) < 1e-7  # the card's β is back


def test_stdp_writes_through_the_fake_quantization() -> None:
    """The pure STDP step returns a new weight; assigning it keeps every sub-LSB change in the master."""
    from spikefa.functional.stdp import STDPParams, stdp_init, stdp_step

    net = prepare_qat(tiny_net(), profile("int8-edge"), bits=8)
    lin = _linears(net)[1]
    params = STDPParams(a_plus=4e-4, a_minus=-3e-4, w_min=-2.0, w_max=2.0, dt=1.0)
    pre, post = spikes(40, 1, 16, rate=0.5, seed=5), spikes(40, 1, 5, rate=0.5, seed=6)
    state = stdp_init(pre[0], post[0])
    master0, q0 = master_weight(lin).detach().clone(), lin.weight.detach().clone()
    applied = torch.zeros_like(master0)
    with torch.no_grad():
        for t in range(40):
            old = lin.weight.detach()
            new, state = stdp_step(pre[t], post[t], old, state, params)
            applied += new - old
            lin.weight = new
    assert torch.allclose(master_weight(lin).detach() - master0, applied, atol=1e-6)
    assert bool((lin.weight.detach() != q0).any())  # accumulated sub-LSB updates crossed grid points


def test_online_dfa_under_qat_trains_the_float_master_weights() -> None:
    """Online DFA writes .grad itself: under QAT it must reach the parametrization's original."""
    from spikefa.nn.online import OnlineDFA

    learner = OnlineDFA(tiny_net(), seed=0)
    prepare_qat(learner.net, profile("int8-edge"), bits=4)
    masters = [master_weight(m) for m in learner.layers]
    before = [w.detach().clone() for w in masters]
    opt = torch.optim.SGD(learner.parameters(), lr=0.5)
    x = (torch.rand(12, 6, 20, generator=torch.Generator().manual_seed(1)) < 0.5).float()
    learner.local_step(iter(x), torch.tensor([0, 1, 2, 3, 4, 0]))
    assert all(w.grad is not None and bool(w.grad.abs().sum() > 0) for w in masters)
    opt.step()
    assert all(not torch.equal(a, w.detach()) for a, w in zip(before, masters))


def test_spiking_forward_quantizes_each_weight_once_per_sequence() -> None:
    """The fake-quantised weight is computed once per forward pass (cached), not once per step,
    and the cached pass gives the gradients of the uncached one."""
    from spikefa.export.qat import FakeQuantWeight

    net = prepare_qat(tiny_net(), profile("int8-edge"), bits=4)
    calls = []
    for m in net.modules():
        if isinstance(m, FakeQuantWeight):
            m.register_forward_hook(lambda *a: calls.append(1))
    x = (torch.rand(9, 3, 20, generator=torch.Generator().manual_seed(2)) < 0.5).float()
    net(x).mem.sum().backward()
    assert len(calls) == 2  # two layers, nine steps
    cached = [master_weight(m).grad.clone() for m in _linears(net)]
    for m in _linears(net):
        master_weight(m).grad = None
    mems, outs = [None, None], []
    for x_t in x:  # the same pass step by step, each step reading the parametrization again
        h = x_t
        for i, (syn, neu) in enumerate(zip(net.synapses, net.neurons)):
            cur = syn(h)
            h, mems[i] = neu(cur, mems[i] if mems[i] is not None else torch.zeros_like(cur))
        outs.append(mems[-1])
    torch.stack(outs).sum().backward()
    assert len(calls) == 2 + 2 * 9
    for a, m in zip(cached, _linears(net)):
        torch.testing.assert_close(a, master_weight(m).grad)


def test_online_dfa_under_qat_steps_the_neuron_the_network_runs() -> None:
    """Online DFA under QAT steps the network's own neurons: the target's β̂ and the state grid.
    Its broadcast loss (membrane error, every step) equals the cross-entropy of the QAT forward's
    output membranes, and differs from the card's float neuron on the same quantized weights."""
    import torch.nn.functional as F

    from spikefa.nn.online import OnlineDFA

    from .nets import variant

    # Xylo's shift decay (β̂ = 0.875 for β = 0.9) with a 10-bit state, so the state grid shows
    prof = variant("xylo-audio2", neuron={"state_bits": 10, "threshold_bits": 10})
    net = tiny_net((20, 16, 5), gain=2.0)
    card_beta = net.lif[0].beta
    online = OnlineDFA(net, "random", seed=0, error="membrane")
    prepare_qat(net, prof, bits=8)
    assert net.lif[0].beta != card_beta  # the profile's decay differs from the card's β
    x, y = spikes(12, 6, 20, rate=0.4), torch.arange(6) % 5
    with torch.no_grad():
        record = net(x)
    want = torch.stack([F.cross_entropy(m, y) for m in record.mem]).mean()
    got = online.local_step(x, y)
    assert record.spikes.sum() > 0 and torch.allclose(got, want, rtol=1e-6, atol=1e-7)
    quantizers = [n.state_quant for n in net.neurons]
    for n in net.neurons:  # the same β̂ without the state grid: the membranes move
        n.state_quant = False
    with torch.no_grad():
        assert not torch.allclose(net(x).mem, record.mem)
    for n, q in zip(net.neurons, quantizers):
        n.state_quant = q
    remove_qat(net, bake=True)  # the card's float β on the same (now baked) weights
    with torch.no_grad():
        float_mem = net(x).mem
    assert not torch.allclose(float_mem, record.mem)


def test_conv_qat_puts_kernels_on_the_quantiser_grid_per_channel() -> None:
    """QAT of a conv SNN (avg pools folded as the quantiser folds them): the forward kernels and
    biases equal PTQ's dequantised ones, and training runs through the fake-quantised convolutions."""
    from .nets import tiny_conv_net

    for pool, spike_pool in (("avg", "none"), ("max", "avg")):
        net = prepare_qat(tiny_conv_net(pool, spike_pool=spike_pool, gain=3.0), profile("int8-edge"), bits=4)
        qnet = quantize(net, profile("int8-edge"), bits=4)
        for layer, fq, q in zip(net.synapses, dequantize(qnet, torch.float64), qnet.layers):
            m = next(m for m in layer.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))
            assert torch.allclose(m.weight.double() / q.pool_fold, fq.weight, atol=1e-6), pool
            folds_after = q.pool_fold if pool == "avg" and isinstance(m, nn.Conv2d) and m is layer[0] else 1.0
            assert torch.allclose(m.bias.double() / folds_after, fq.bias, atol=1e-6), pool
        rec = net(spikes(4, 2, 64, rate=0.5).reshape(4, 2, 1, 8, 8))
        (rec.spikes.sum() + rec.mem.pow(2).mean()).backward()
        assert all(master_weight(m).grad is not None and bool(master_weight(m).grad.abs().sum() > 0)
                   for m in net.modules() if isinstance(m, nn.Conv2d))
