"""``spikefa bench rules``: step time and memory of each rule against backprop, in one run.

Rules are timed in interleaved rounds on the same model, batch and device, and reported as
ratios to backprop (absolute times vary between machines; ratios measured together do not
drift much). Memory is the bytes autograd saves for backward (every device), plus the peak
allocation on CUDA.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any, Sequence

import torch
import torch.nn.functional as F

from spikefa.errors import SpikefaError
from spikefa.rules.registry import REFERENCE, get_rule
from spikefa.runs.checkpoint import atomic_write_text, write_json
from spikefa.train.optim import adam


def _saved_bytes(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> int:
    total = 0

    def pack(t: torch.Tensor) -> torch.Tensor:
        nonlocal total
        total += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = F.cross_entropy(model(x), y)
    loss.backward()
    return total


def _make(model_name: str, variant: str, input_shape: tuple[int, int, int], classes: int,
          device: str) -> torch.nn.Module:
    from spikefa.catalog import load_card
    from spikefa.nn.build import build
    from spikefa.rules.registry import convert
    from spikefa.train.compare import parse_variant

    rule, feedback, options = parse_variant(variant)
    declared = get_rule(rule)
    net = build(load_card(model_name), input_shape, classes, seed=0)
    model = convert(net, rule, feedback, seed=0, input_shape=input_shape, options=options)
    if declared.learns_online(model) or declared.unsupervised_for(model) or declared.param_groups:
        raise SpikefaError(f"bench rules times gradient-substitute rules (one forward, backward and Adam step "
                           f"each); {rule!r} learns otherwise: time it with spikefa train")
    return model.to(device)


def bench_rules(model: str = "mlp-2x800-tanh", variants: Sequence[str] = ("bp", "fa", "sign", "dfa"),
                batch_size: int = 128, input_shape: tuple[int, int, int] = (1, 28, 28), classes: int = 10,
                rounds: int = 7, steps: int = 30, device: str = "cpu") -> dict[str, Any]:
    """Median seconds per training step and saved-for-backward bytes per variant, with ratios to bp."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(batch_size, *input_shape, generator=gen).to(device)
    y = torch.randint(0, classes, (batch_size,), generator=gen).to(device)
    models = {v: _make(model, v, input_shape, classes, device)
              for v in (REFERENCE, *[v for v in variants if v != REFERENCE])}
    opts = {v: adam(m.parameters(), lr=1e-4) for v, m in models.items()}
    times: dict[str, list[float]] = {v: [] for v in models}
    mem = {v: _saved_bytes(m, x, y) for v, m in models.items()}
    peak: dict[str, int] = {}
    for r in range(rounds + 1):  # round 0 warms up
        for v, m in models.items():
            if device.startswith("cuda"):
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
            t0 = time.perf_counter()
            for _ in range(steps):
                opts[v].zero_grad(set_to_none=True)
                F.cross_entropy(m(x), y).backward()
                opts[v].step()
            if device.startswith("cuda"):
                torch.cuda.synchronize()
                peak[v] = torch.cuda.max_memory_allocated()
            if r:
                times[v].append((time.perf_counter() - t0) / steps)
    base_t, base_m = statistics.median(times[REFERENCE]), mem[REFERENCE]
    rows = []
    for v in models:
        t = statistics.median(times[v])
        row = {"rule": v, "step_seconds": t, "time_ratio": t / base_t, "saved_bytes": mem[v],
               "saved_ratio": mem[v] / base_m}
        if peak:
            row.update(cuda_peak_bytes=peak[v], cuda_peak_ratio=peak[v] / peak[REFERENCE])
        rows.append(row)
    return {"model": model, "batch_size": batch_size, "input_shape": list(input_shape), "device": device,
            "torch_threads": torch.get_num_threads(), "rounds": rounds, "steps_per_round": steps, "rows": rows}


def write_bench(result: dict[str, Any], out_dir: str | Path) -> str:
    out = Path(out_dir)
    write_json(out / "bench_rules.json", result)
    lines = [f"# Step time and memory vs backprop: `{result['model']}`, batch {result['batch_size']}, "
             f"{result['device']} ({result['torch_threads']} threads)", "",
             f"Median of {result['rounds']} interleaved rounds of {result['steps_per_round']} steps "
             "(forward, backward, Adam step).", "",
             "| rule | ms per step | × backprop | saved for backward (MiB) | × backprop |",
             "|---|---:|---:|---:|---:|"]
    for r in result["rows"]:
        lines.append(f"| {r['rule']} | {1000 * r['step_seconds']:.3f} | {r['time_ratio']:.3f} | "
                     f"{r['saved_bytes'] / 2**20:.2f} | {r['saved_ratio']:.3f} |")
    text = "\n".join(lines) + "\n"
    atomic_write_text(out / "bench_rules.md", text)
    return text
