"""A grid of rules × seeds: one run directory each, then a Markdown table and a PNG of curves.

The grid is restartable: a finished run (summary.json present) is reused, a crashed one resumed.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any, Sequence

from spikefa.errors import SpikefaError
from spikefa.rules.registry import get_rule, resolve_feedback
from spikefa.train.checkpoint import atomic_write_text, write_json
from spikefa.train.plots import plot_comparison
from spikefa.train.run import CHECKPOINT, resolve_config, train


def parse_variant(spec: str) -> tuple[str, str | None]:
    """``"fa:binary"`` -> ("fa", "binary"); ``"bp"`` -> ("bp", None); checked against the registries."""
    rule, _, feedback = spec.strip().partition(":")
    r = get_rule(rule)
    return rule, resolve_feedback(r, feedback or None)


def variant_label(rule: str, feedback: str | None) -> str:
    default = get_rule(rule).default_feedback
    return rule if feedback in (None, default) or rule == "sign" else f"{rule}:{feedback}"


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def run_grid(model: str, variants: Sequence[str], dataset: str, seeds: Sequence[int], out_dir: str | Path, *,
             progress: bool = True, **overrides: Any) -> list[dict[str, Any]]:
    """Train every variant with every seed under ``out_dir/runs``; returns the run summaries."""
    out = Path(out_dir)
    parsed = [parse_variant(v) for v in variants]
    if not parsed:
        raise SpikefaError("--rules is empty: give at least one rule, e.g. --rules bp,fa")
    summaries = []
    for rule, feedback in parsed:
        label = variant_label(rule, feedback)
        for seed in seeds:
            run_dir = out / "runs" / f"{label.replace(':', '-')}-seed{seed}"
            summaries.append(_one(model, rule, feedback, dataset, seed, run_dir, label, progress, overrides))
    return summaries


def _one(model: str, rule: str, feedback: str | None, dataset: str, seed: int, run_dir: Path, label: str,
         progress: bool, overrides: dict[str, Any]) -> dict[str, Any]:
    done = run_dir / "summary.json"
    if done.is_file():
        summary = json.loads(done.read_text())
    else:
        config = resolve_config(model, rule, dataset, feedback=feedback, seed=seed, **overrides)
        summary = train(config, run_dir, progress=progress, resume=(run_dir / CHECKPOINT).is_file())
    summary["variant"] = label
    summary["run_dir"] = str(run_dir)
    summary["curve"] = _curve(run_dir / "metrics.csv")
    return summary


def _curve(metrics: Path) -> list[float]:
    import csv

    with metrics.open() as fh:
        return [float(r["test_accuracy"]) for r in csv.DictReader(fh)]


def write_report(summaries: list[dict[str, Any]], out_dir: str | Path, title: str, protocol: str) -> str:
    """results.json, table.md (mean ± std over seeds) and curves.png; returns the table."""
    out = Path(out_dir)
    by_variant: dict[str, list[dict[str, Any]]] = {}
    for s in summaries:
        by_variant.setdefault(s["variant"], []).append(s)
    lines = [f"# {title}", "", protocol, "",
             "| rule | seeds | test accuracy (%) | val accuracy (%) | epochs | seconds per run |",
             "|---|---:|---:|---:|---:|---:|"]
    rows = []
    for label, runs in by_variant.items():
        tm, ts = mean_std([100 * r["test_accuracy"] for r in runs])
        vm, vs = mean_std([100 * r["val_accuracy"] for r in runs])
        secs = statistics.fmean(r["seconds"] for r in runs)
        lines.append(f"| {label} | {len(runs)} | {tm:.2f} ± {ts:.2f} | {vm:.2f} ± {vs:.2f} | "
                     f"{runs[0]['epochs']} | {secs:.1f} |")
        rows.append({"variant": label, "seeds": len(runs), "test_mean": tm, "test_std": ts, "val_mean": vm,
                     "val_std": vs, "epochs": runs[0]["epochs"], "seconds": secs})
    table = "\n".join(lines) + "\n"
    atomic_write_text(out / "table.md", table)
    write_json(out / "results.json", {"title": title, "protocol": protocol, "rows": rows,
                                      "runs": [{k: v for k, v in s.items() if k != "curve"} for s in summaries]})
    plot_comparison(out / "curves.png", {k: [r["curve"] for r in v] for k, v in by_variant.items()},
                    "test accuracy", title)
    return table


def protocol_text(summaries: list[dict[str, Any]], out_dir: str | Path) -> str:
    """The protocol line stated beside a table: optimiser, learning rates, epochs, batch, split."""
    parts = {}
    for s in summaries:
        cfg = json.loads((Path(s["run_dir"]) / "config.json").read_text())
        parts[s["variant"]] = f"{cfg['optimizer']} lr {cfg['lr']:g} ({cfg['schedule']})"
    first = json.loads((Path(summaries[0]["run_dir"]) / "config.json").read_text())
    per_rule = "; ".join(f"{k}: {v}" for k, v in parts.items())
    return (f"Protocol: model `{first['model']}`, dataset `{first['dataset']}`, batch {first['batch_size']}, "
            f"{first['epochs']} epochs, inputs standardised: {first['normalize']}; validation split held out of "
            f"the training set; test accuracy after the last epoch (never used for selection). "
            f"Optimiser per rule: {per_rule}.")
