"""A grid of rules × seeds: one run directory each, then a Markdown table and a PNG of curves.

The grid is restartable: a finished run (summary.json present) is reused, a crashed one resumed.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any, Sequence

from spikefa.errors import SpikefaError
from spikefa.rules.registry import get_rule, resolve_feedback, resolve_options
from spikefa.runs.checkpoint import atomic_write_text, write_json
from spikefa.runs.model import read_config
from spikefa.train.plots import plot_comparison
from spikefa.train.run import CHECKPOINT, TransformFor, resolve_config, train


def parse_variant(spec: str) -> tuple[str, str | None, dict[str, Any]]:
    """``"fa:binary+plastic=hebb"`` -> ("fa", "binary", {"plastic": "hebb"}); ``"bp"`` ->
    ("bp", None, {}); rule, feedback and options are checked against the registries."""
    head, *pairs = spec.strip().split("+")
    rule, _, feedback = head.partition(":")
    r = get_rule(rule)
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SpikefaError(f"variant {spec!r}: option {pair!r} must look like key=value")
        options[key] = value
    resolve_options(r, options)
    return rule, resolve_feedback(r, feedback or None), options


def variant_label(spec: str) -> str:
    """The variant as written, without a feedback kind that is the rule's default."""
    rule, feedback, _ = parse_variant(spec)
    head, *pairs = spec.strip().split("+")
    if feedback == get_rule(rule).default_feedback:
        head = rule
    return "+".join([head, *pairs])


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def run_grid(model: str, variants: Sequence[str], dataset: str, seeds: Sequence[int], out_dir: str | Path, *,
             progress: bool = True, transform_for: TransformFor | None = None,
             **overrides: Any) -> list[dict[str, Any]]:
    """Train every variant with every seed under ``out_dir/runs``; returns the run summaries.
    ``transform_for`` gives a config's model transform (QAT: `spikefa.export.qat.qat_transform`)."""
    out = Path(out_dir)
    parsed = [(v, *parse_variant(v)) for v in variants]
    if not parsed:
        raise SpikefaError("--rules is empty: give at least one rule, e.g. --rules bp,fa")
    summaries = []
    for spec, rule, feedback, options in parsed:
        label = variant_label(spec)
        for seed in seeds:
            run_dir = out / "runs" / f"{run_name(label)}-seed{seed}"
            summaries.append(_one(model, (rule, feedback, options), dataset, seed, run_dir, label, progress, overrides,
                                  transform_for))
    return summaries


def run_name(label: str) -> str:
    """A folder name for a variant label."""
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in label)


def _one(model: str, variant: tuple[str, str | None, dict[str, Any]], dataset: str, seed: int, run_dir: Path,
         label: str, progress: bool, overrides: dict[str, Any], transform_for: TransformFor | None = None
         ) -> dict[str, Any]:
    rule, feedback, options = variant
    done = run_dir / "summary.json"
    if done.is_file():
        summary = json.loads(done.read_text())
    else:
        config = resolve_config(model, rule, dataset, feedback=feedback, seed=seed, rule_options=options, **overrides)
        transform = transform_for(config) if transform_for is not None and config.qat else None
        summary = train(config, run_dir, progress=progress, resume=(run_dir / CHECKPOINT).is_file(),
                        transform=transform)
    summary["variant"] = label
    summary["run_dir"] = str(run_dir)
    summary["curve"] = _curve(run_dir / "metrics.csv")
    return summary


def _curve(metrics: Path) -> list[float]:
    """Validation accuracy per epoch (the test accuracy is plotted once, after the last epoch)."""
    import csv

    if not metrics.is_file():
        return []
    with metrics.open() as fh:
        return [float(r["val_accuracy"]) for r in csv.DictReader(fh)]


def summarize_runs(label: str, runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Mean ± std over seeds; diverged runs are counted and named, never averaged in silently."""
    ok = [r for r in runs if not r.get("diverged")]
    bad = [r for r in runs if r.get("diverged")]
    row: dict[str, Any] = {"variant": label, "seeds": len(runs), "diverged": len(bad),
                           "diverged_why": [r["diverged"] for r in bad],
                           "epochs": max(r["epochs"] for r in runs), "seconds": statistics.fmean(r["seconds"] for r in runs)}
    if ok:
        row["test_mean"], row["test_std"] = mean_std([100 * r["test_accuracy"] for r in ok])
        row["val_mean"], row["val_std"] = mean_std([100 * r["val_accuracy"] for r in ok])
    return row


def accuracy_cells(row: dict[str, Any]) -> tuple[str, str]:
    """(test, val) cells: "mean ± std" over the seeds that finished, the bare value for one run
    (a single run has no spread to show), "—" when none finished."""
    if "test_mean" not in row:
        return "—", "—"
    n = row["seeds"] - row["diverged"]
    return tuple(f"{row[f'{k}_mean']:.2f}" + (f" ± {row[f'{k}_std']:.2f}" if n > 1 else "")  # type: ignore[return-value]
                 for k in ("test", "val"))


def table_row(row: dict[str, Any]) -> str:
    """One Markdown row: accuracies, or how many seeds diverged and where the first stopped."""
    test, val = accuracy_cells(row)
    if row["diverged"]:
        test += f" ({row['diverged']}/{row['seeds']} diverged: {row['diverged_why'][0]})"
    return f"| {row['variant']} | {row['seeds']} | {test} | {val} | {row['epochs']} | {row['seconds']:.1f} |"


def write_report(summaries: list[dict[str, Any]], out_dir: str | Path, title: str, protocol: str) -> str:
    """results.json, table.md (mean ± std over seeds) and curves.png (val accuracy per epoch, test
    accuracy after the last epoch); returns the table."""
    out = Path(out_dir)
    by_variant: dict[str, list[dict[str, Any]]] = {}
    for s in summaries:
        by_variant.setdefault(s["variant"], []).append(s)
    lines = [f"# {title}", "", protocol, "",
             "| rule | seeds | test accuracy (%) | val accuracy (%) | epochs | seconds per run |",
             "|---|---:|---:|---:|---:|---:|"]
    rows = []
    for label, runs in by_variant.items():
        row = summarize_runs(label, runs)
        lines.append(table_row(row))
        rows.append(row)
    table = "\n".join(lines) + "\n"
    atomic_write_text(out / "table.md", table)
    write_json(out / "results.json", {"title": title, "protocol": protocol, "rows": rows,
                                      "runs": [{k: v for k, v in s.items() if k != "curve"} for s in summaries]})
    final = {k: [r["test_accuracy"] for r in v if not r.get("diverged")] for k, v in by_variant.items()}
    plot_comparison(out / "curves.png", {k: [r["curve"] for r in v] for k, v in by_variant.items()},
                    "val accuracy", title, final=final)
    return table


def protocol_text(summaries: list[dict[str, Any]], out_dir: str | Path) -> str:
    """The protocol line stated beside a table: optimiser, learning rates, rule options (the card's
    presets included), epochs, batch, split."""
    parts = {}
    for s in summaries:
        cfg = read_config(s["run_dir"])
        options = ", ".join(f"{k}={v}" for k, v in sorted(cfg.rule_options.items()))
        parts[s["variant"]] = f"{cfg.optimizer} lr {cfg.lr:g} ({cfg.schedule})" + (
            f", options {options}" if options else "")
    first = read_config(summaries[0]["run_dir"])
    per_rule = "; ".join(f"{k}: {v}" for k, v in parts.items())
    return (f"Protocol: model `{first.model}`, dataset `{first.dataset}`, batch {first.batch_size}, "
            f"{first.epochs} epochs, inputs standardized: {first.standardize}; validation split held out of "
            f"the training set; test accuracy after the last epoch (never used for selection). "
            f"Optimiser and options per rule: {per_rule}.")
