"""The four comparisons of `spikefa bench peers` (`spikefa.train.bench_peers` states what each
measures); each returns one `Section`'s JSON."""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from spikefa._optional import require
from spikefa.rules.registry import REFERENCE
from spikefa.train.optim import adam
from spikefa.train.peer_timing import Section, Shape, interleave, load_peer, reason, try_peer


# ------------------------------------------------------------------ FA / sign / DFA vs BioTorch

# spikefa variant -> how its error reaches the hidden layers (which products `mlp_shapes` counts)
VARIANTS = {"bp": "layer", "fa": "layer", "sign": "layer", "dfa": "direct"}
# spikefa variant -> BioTorch mode of the same rule ('dfa' is the one whose forward takes the targets)
BIOTORCH_MODES = {"fa": "fa", "sign": "usf", "dfa": "dfa"}
BIOTORCH_TARGETS = "dfa"
_ADAM_NOTE = ("Every side steps the same optimiser, spikefa's `adam` (torch's fused Adam where the parameters "
              "allow it), as `spikefa train` does.")


def mlp_shapes(dims: Sequence[int], batch: int, feedback: str) -> list[Shape]:
    """Products of one training step of an MLP with layer widths ``dims``: forward [B, in]·[in, out]
    per layer, weight gradient [out, B]·[B, in] per layer, and the error sent back: through every
    layer but the first (backprop, FA, sign: ``feedback`` "layer") or from the output to every
    hidden layer ("direct", DFA)."""
    layers = list(zip(dims[:-1], dims[1:], strict=True))
    shapes = [(batch, i, o) for i, o in layers] + [(o, batch, i) for i, o in layers]
    if feedback == "direct":
        return shapes + [(batch, dims[-1], o) for _, o in layers[:-1]]
    return shapes + [(batch, o, i) for i, o in layers[1:]]


def _biotorch_twin(module: Any, dims: Sequence[int], mode: str, classes: int) -> torch.nn.Module:
    from torch import nn

    layers: list[nn.Module] = [nn.Flatten()]
    for k, (i, o) in enumerate(zip(dims[:-1], dims[1:], strict=True)):
        layers += [nn.Linear(i, o)] + ([nn.Tanh()] if k < len(dims) - 2 else [])
    return module.BioModule(nn.Sequential(*layers), mode=mode, output_dim=classes if mode == "dfa" else None)


def bench_fa(rounds: int = 5, steps: int = 10, batch_size: int = 128, input_shape: tuple[int, int, int] = (1, 28, 28),
             classes: int = 10, model: str = "mlp-2x800-tanh") -> dict[str, Any]:
    """spikefa's bp / fa / sign / dfa step vs BioTorch's fa / usf / dfa on the same MLP and batch."""
    from torch import nn

    from spikefa.train.bench import _make

    gen = torch.Generator().manual_seed(0)
    x = torch.randn(batch_size, *input_shape, generator=gen)
    y = torch.randint(0, classes, (batch_size,), generator=gen)
    ours = {f"spikefa {v}": _make(model, v, input_shape, classes, "cpu") for v in VARIANTS}
    dims = [m.in_features for m in ours[f"spikefa {REFERENCE}"].modules() if isinstance(m, nn.Linear)] + [classes]
    shapes = {"layer": mlp_shapes(dims, batch_size, "layer"), "direct": mlp_shapes(dims, batch_size, "direct")}
    section = Section("fa", f"Training step, MLP {'-'.join(map(str, dims))} tanh, batch {batch_size}, Adam",
                      "ms per step", shapes)
    models: dict[str, torch.nn.Module] = dict(ours)
    labels = {f"biotorch {m}": m for m in BIOTORCH_MODES.values()}
    feedback = {f"spikefa {v}": f for v, f in VARIANTS.items()}
    feedback.update({f"biotorch {m}": VARIANTS[v] for v, m in BIOTORCH_MODES.items()})
    bt = try_peer(section, "biotorch", list(labels))
    failed: dict[str, str] = {}
    for label, mode in labels.items() if bt is not None else ():
        try:
            with contextlib.redirect_stdout(io.StringIO()):  # BioTorch prints each conversion
                models[label] = _biotorch_twin(bt, dims, mode, classes)
        except Exception as exc:
            failed[label] = reason(exc)
    opts = {k: adam(m.parameters(), lr=1e-4) for k, m in models.items()}

    def step(label: str) -> Callable[[], None]:
        m, opt, direct = models[label], opts[label], labels.get(label) == BIOTORCH_TARGETS

        def run() -> None:
            opt.zero_grad(set_to_none=True)
            out = m(x, targets=y, loss_function=F.cross_entropy) if direct else m(x)
            F.cross_entropy(out, y).backward()
            opt.step()
        return run

    with warnings.catch_warnings():  # BioTorch's DFA layers use torch's deprecated non-full backward hook
        warnings.simplefilter("ignore", FutureWarning)
        times, fails = interleave({k: step(k) for k in models}, rounds, steps)
    failed.update(fails)
    for label in [*ours, *[k for k in labels if bt is not None]]:
        section.add(label, "spikefa" if label in ours else "biotorch", times, failed, feedback[label])
    section.pairs = [(f"spikefa {r}", f"biotorch {m}") for r, m in BIOTORCH_MODES.items()]
    section.pairs += [(f"spikefa {v}", f"spikefa {REFERENCE}") for v in VARIANTS if v != REFERENCE]
    section.notes.append("BioTorch's sign-symmetry mode is 'usf' (uniform sign-concordant feedback, B = sign(W)).")
    section.notes.append(_ADAM_NOTE)
    return section.finish(rounds)


# ------------------------------------------------------------------ Diehl & Cook vs BindsNET


def bindsnet_diehl_cook(n_exc: int, p: Any) -> Any:
    """BindsNET's ``DiehlAndCook2015`` with spikefa's constants `p` (`DiehlCookParams`) where BindsNET
    takes them: inhibition, dt, the STDP rates, weight norm, θ₊ and its decay τ_θ (ms)."""
    return load_peer("bindsnet").DiehlAndCook2015(
        n_inpt=p.n_input, n_neurons=n_exc, exc=22.5, inh=p.inhibition, dt=p.dt, nu=(p.nu_pre, p.nu_post),
        norm=p.norm, theta_plus=p.theta_plus, tc_theta_decay=p.tau_theta, inpt_shape=(1, 28, 28))


def bindsnet_present(net: Any, image: torch.Tensor, p: Any, monitor: Any = None) -> torch.Tensor | None:
    """One learning presentation of `image` [784] in [0, 1] (Poisson at p.max_rate_hz for p.time_ms,
    BindsNET's examples/mnist/eth_mnist.py), then BindsNET's per-sample reset. With a BindsNET
    ``Monitor`` of the excitatory layer's ``s``: returns its spike counts [n_exc], read before the reset."""
    poisson = require("bindsnet.encoding").poisson
    spikes = poisson(datum=image.view(1, 28, 28) * p.max_rate_hz, time=int(p.time_ms), dt=p.dt)
    net.run(inputs={"X": spikes.view(p.steps, 1, 1, 28, 28)}, time=int(p.time_ms))
    counts = None if monitor is None else monitor.get("s").reshape(p.steps, -1).sum(0).float()
    net.reset_state_variables()
    return counts


def _bindsnet_image(n_exc: int, p: Any) -> Callable[[torch.Tensor], None]:
    """One BindsNET ``DiehlAndCook2015`` presentation per call (its examples/mnist/eth_mnist.py)."""
    net = bindsnet_diehl_cook(n_exc, p)

    def run(image: torch.Tensor) -> None:
        bindsnet_present(net, image, p)
    return run


def bench_dc(images: torch.Tensor, sizes: Sequence[int] = (100, 400), rounds: int = 5, per_round: int = 2,
             time_ms: float = 250.0) -> dict[str, Any]:
    """ms per image with learning, batch 1: spikefa (compiled loop, torch kernels) vs BindsNET,
    the same images [K, 784] in [0, 1] in the same order for every side."""
    from spikefa.nn.stdp import DiehlCookNet
    from spikefa.schemas.stdp import DiehlCookParams

    base = DiehlCookParams(time_ms=time_ms)
    shapes = {f"n{n}": [(1, base.n_input, n)] * base.steps for n in sizes}
    section = Section("dc", f"Diehl & Cook image, {time_ms:g} ms at {base.max_rate_hz:g} Hz, learning, batch 1",
                      "ms per image", shapes)
    calls: dict[str, Callable[[torch.Tensor], None]] = {}
    bindsnet_ok = try_peer(section, "bindsnet", [f"bindsnet {n}" for n in sizes]) is not None
    failed: dict[str, str] = {}
    for n in sizes:
        p = DiehlCookParams(n_exc=n, time_ms=time_ms)
        for kernel in ("jit", "torch"):
            net = DiehlCookNet(p, seed=0, kernel=kernel if kernel == "torch" else "auto")
            gen = torch.Generator().manual_seed(0)
            calls[f"spikefa {kernel} {n}"] = lambda img, net=net, gen=gen, p=p: net.run(
                img[None], p.max_rate_hz, gen, learn=True)
        if bindsnet_ok:
            try:
                torch.manual_seed(0)
                calls[f"bindsnet {n}"] = _bindsnet_image(n, p)
            except Exception as exc:
                failed[f"bindsnet {n}"] = reason(exc)
    if not _jit_ready():
        section.notes.append("numba is not installed (spikefa[jit]): the 'jit' rows ran the torch kernels.")
    cursor = {k: 0 for k in calls}

    def image_of(label: str) -> Callable[[], None]:
        def run() -> None:
            calls[label](images[cursor[label] % len(images)])
            cursor[label] += 1
        return run

    times, fails = interleave({k: image_of(k) for k in calls}, rounds, per_round)
    failed.update(fails)
    for n in sizes:
        for label in (f"spikefa jit {n}", f"spikefa torch {n}", *([f"bindsnet {n}"] if bindsnet_ok else [])):
            section.add(label, label.split()[0], times, failed, f"n{n}")
        section.pairs += [(f"spikefa jit {n}", f"bindsnet {n}"), (f"spikefa torch {n}", f"bindsnet {n}"),
                          (f"spikefa jit {n}", f"spikefa torch {n}")]
    section.notes.append("Roofline shapes: the synaptic input as a dense [1, 784]·[784, N] product per 1 ms step.")
    return section.finish(rounds)


def _jit_ready() -> bool:
    from spikefa.functional.diehl_cook_kernel import jit_available

    return jit_available()


# ------------------------------------------------------------------ one STDP layer vs Brian2


def _poisson_raster(steps: int, n: int, rate_hz: float, dt: float, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(steps, n, generator=gen, dtype=torch.float64) < rate_hz * dt / 1000.0


def _brian2_layer(target: str, pre: torch.Tensor, post: torch.Tensor, w0: torch.Tensor, params: Any,
                  dt: float) -> tuple[Callable[[], None], Callable[[], Any], list[float]]:
    """(run once from w0, final weights [out, in], Brian2's profiled code-object seconds per run)."""
    from spikefa.crosscheck.reference import stdp_code, stdp_namespace

    b2 = load_peer("brian2")
    code, steps = stdp_code(params), pre.shape[0]
    n_out, n_in = w0.shape
    profiled: list[float] = []

    def with_target(fn: Callable[[], Any]) -> Any:
        old = b2.prefs.codegen.target, b2.prefs.core.default_float_dtype
        b2.prefs.codegen.target, b2.prefs.core.default_float_dtype = target, __import__("numpy").float64
        try:
            return fn()
        finally:
            b2.prefs.codegen.target, b2.prefs.core.default_float_dtype = old

    def build() -> Any:
        ms, clock = b2.ms, {"dt": dt * b2.ms}
        pt, pi = pre.nonzero().t().numpy()
        qt, qi = post.nonzero().t().numpy()
        src = b2.SpikeGeneratorGroup(n_in, pi, pt * dt * ms, **clock)
        dst = b2.SpikeGeneratorGroup(n_out, qi, qt * dt * ms, **clock)
        syn = b2.Synapses(src, dst, code["model"], on_pre=code["on_pre"], on_post=code["on_post"],
                          namespace=stdp_namespace(params, ms), **clock)
        syn.connect(i=torch.arange(n_in).repeat(n_out).numpy(), j=torch.arange(n_out).repeat_interleave(n_in).numpy())
        syn.w = w0.flatten().numpy()
        net = b2.Network(src, dst, syn)
        net.store()
        return net, syn

    net, syn = with_target(build)

    def run() -> None:
        def go() -> None:
            net.restore()
            net.run(steps * dt * b2.ms, profile=True)
            profiled.append(sum(float(s) for _, s in net.profiling_info))
        with_target(go)
    return run, lambda: torch.as_tensor(syn.w[:]).reshape(n_out, n_in), profiled


def bench_stdp(rounds: int = 3, n_in: int = 784, n_out: int = 400, time_ms: float = 1000.0, rate_hz: float = 20.0,
               targets: Sequence[str] = ("numpy", "cython")) -> dict[str, Any]:
    """One plastic n_in→n_out layer, Brian2's pair STDP (float64), Poisson pre and post trains:
    spikefa's compiled train loop (`stdp_run_jit`, where numba is installed) and its step function
    (`stdp_step_events`, torch) vs Brian2 per code-generation target; final weights compared."""
    from spikefa.functional.diehl_cook_kernel import jit_available
    from spikefa.functional.stdp import STDPState
    from spikefa.functional.stdp_batched import stdp_step_events
    from spikefa.schemas.stdp import STDPParams

    dt = 1.0
    steps = round(time_ms / dt)
    params = STDPParams.from_mode("brian2", tau_pre=20.0, tau_post=20.0, a_plus=0.01, a_minus=-0.0105,
                                  w_min=0.0, w_max=1.0, dt=dt)
    pre, post = _poisson_raster(steps, n_in, rate_hz, dt, 1), _poisson_raster(steps, n_out, rate_hz, dt, 2)
    w0 = torch.rand(n_out, n_in, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    shapes = {"outer": [(n_out, 1, n_in)] * (2 * steps)}
    section = Section("stdp", f"One plastic {n_in}→{n_out} layer, Brian2 pair STDP (float64), {time_ms:g} ms at "
                      f"{rate_hz:g} Hz", "ms per run", shapes)
    pre_ev = [(torch.zeros(len(i), dtype=torch.int64), i) for i in (r.nonzero().squeeze(1) for r in pre)]
    post_ev = [(torch.zeros(len(j), dtype=torch.int64), j) for j in (r.nonzero().squeeze(1) for r in post)]
    final: dict[str, torch.Tensor] = {}

    def steps_torch() -> None:
        w = w0.clone()
        state = STDPState(torch.zeros(1, n_in, dtype=w.dtype), torch.zeros(1, n_out, dtype=w.dtype))
        for a, b in zip(pre_ev, post_ev, strict=True):
            w, state = stdp_step_events(a, b, w, state, params, reduction="sum", inplace=True)
        final["spikefa torch"] = w

    def train_jit() -> None:
        from spikefa.functional.stdp_kernel import stdp_run_jit

        final["spikefa jit"], _ = stdp_run_jit(pre, post, w0, params)

    calls: dict[str, Callable[[], None]] = {"spikefa torch": steps_torch}
    if jit_available():
        calls = {"spikefa jit": train_jit, **calls}
    else:
        section.notes.append("numba is not installed (spikefa[jit]): no 'spikefa jit' row.")
    weights: dict[str, Callable[[], Any]] = {}
    profiled: dict[str, list[float]] = {}
    failed: dict[str, str] = {}
    labels = [f"brian2 {t}" for t in targets]
    if try_peer(section, "brian2", labels) is not None:
        for t, label in zip(targets, labels, strict=True):
            try:
                calls[label], weights[label], profiled[label] = _brian2_layer(t, pre, post, w0, params, dt)
            except Exception as exc:
                failed[label] = reason(exc)
    times, fails = interleave(calls, rounds)
    failed.update(fails)
    ours = [k for k in calls if k.startswith("spikefa")]
    for label in [*ours, *[k for k in labels if k in calls or k in failed]]:
        section.add(label, label.split()[0], times, failed, "outer")
    if "spikefa jit" in final:
        section.notes.append("spikefa jit vs spikefa torch: max weight difference "
                             f"{float((final['spikefa jit'] - final['spikefa torch']).abs().max()):.3g}")
    for label in labels:
        row = next((r for r in section.rows if r["label"] == label), None)
        if row is None or row["status"] != "ok":
            continue
        row["max_weight_difference"] = float((weights[label]() - final["spikefa torch"]).abs().max())
        inner = f"{label} code objects"  # the simulation alone: Brian2's profiler, per-run set-up left out
        section.add(inner, "brian2", {inner: profiled[label][1:]}, {}, "outer")
        section.pairs += [(o, peer) for o in ours for peer in (label, inner)]
    section.notes.append("Brian2: wall time of Network.run after a first run that generated and compiled the code "
                         "(each run still regenerates its code objects' set-up); 'code objects' rows: the time its "
                         "profiler gives the code objects alone.")
    return section.finish(rounds)


# ------------------------------------------------------------------ online DFA vs snnTorch BPTT


def bench_online(rounds: int = 5, steps: int = 3, batch_size: int = 128, time_steps: int = 25,
                 card: str = "snn-1x800-lif", input_shape: tuple[int, int, int] = (1, 28, 28),
                 classes: int = 10) -> dict[str, Any]:
    """One training step of a spiking card at T steps: spikefa's online DFA vs snnTorch BPTT
    (the card's snnTorch network, surrogate gradient, `spikefa.train.bench_spiking`)."""
    from torch import nn

    from spikefa.catalog import load_card
    from spikefa.train.bench_spiking import BASELINE, build_learner, learners, train_step

    which = learners((1,), dict(load_card(card).preset("dfa").options))
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(batch_size, *input_shape, generator=gen)
    y = torch.randint(0, classes, (batch_size,), generator=gen)
    models = {k: build_learner(card, r, time_steps, input_shape, classes, "cpu", o) for k, (r, o) in which.items()}
    dims = [m.in_features for m in models[BASELINE].modules() if isinstance(m, nn.Linear)] + [classes]
    shapes = {"direct": mlp_shapes(dims, batch_size, "direct") * time_steps,
              "layer": mlp_shapes(dims, batch_size, "layer") * time_steps}
    section = Section("spiking", f"Spiking training step, `{card}`, T = {time_steps}, batch {batch_size}, Adam",
                      "ms per step", shapes)
    opts = {k: adam(m.parameters(), lr=1e-4) for k, m in models.items()}
    times, failed = interleave({k: (lambda k=k: train_step(models[k], opts[k], x, y)) for k in models}, rounds, steps)
    names = {BASELINE: "snntorch bptt", "online-dfa": "spikefa online-dfa"}
    times, failed = {names[k]: v for k, v in times.items()}, {names[k]: v for k, v in failed.items()}
    section.add("spikefa online-dfa", "spikefa", times, failed, "direct")
    section.add("snntorch bptt", "snntorch", times, failed, "layer")
    section.pairs = [("spikefa online-dfa", "snntorch bptt")]
    section.notes.append(_ADAM_NOTE)
    return section.finish(rounds)
