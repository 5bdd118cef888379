"""A grid of rules × seeds: one run directory each, then a Markdown table and a PNG of curves.

The grid is restartable: a finished run (summary.json present) is reused, a crashed one resumed.
Every variant of a rule that declares a ``frozen`` option (`CONTROL_OPTION`: the rule has local
layers it can keep at their initialisation: the Hebbian family, STDP, three-factor) gets its
random-feature control beside it, the same variant with ``frozen=true`` (same read-out, budget and
seeds), and the report prints rule − control in points, paired by seed.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import fields
from pathlib import Path
from typing import Any, Callable, Sequence

from spikefa.errors import SpikefaError
from spikefa.functional.metrics import DUPLICATE_COS
from spikefa.rules.registry import get_rule, resolve_feedback, resolve_options
from spikefa.runs.checkpoint import atomic_write_text, write_json
from spikefa.runs.model import read_config
from spikefa.schemas.run import RunConfig
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


CONTROL_OPTION = "frozen"
"""The option a rule declares when it has local layers that can stay at their initialisation; its
variants get a random-feature control (the harness reads the declaration, never the rule's name)."""


def control_of(spec: str) -> str | None:
    """The random-feature control of a variant (``spec + "+frozen=true"``), or None for a rule that
    declares no `CONTROL_OPTION` (bp, fa, dfa, ...) and for a variant that is a control already."""
    rule, _, options = parse_variant(spec)
    r = get_rule(rule)
    if CONTROL_OPTION not in r.options or resolve_options(r, options)[CONTROL_OPTION]:
        return None
    return f"{spec.strip()}+{CONTROL_OPTION}=true"


def with_controls(variants: Sequence[str]) -> list[str]:
    """``variants`` with each one's random-feature control right after it (once, not repeated)."""
    out: list[str] = []
    for v in variants:
        for x in (v, control_of(v)):
            if x is not None and x not in out:
                out.append(x)
    return out


def paired_difference(rule_runs: Sequence[dict[str, Any]], control_runs: Sequence[dict[str, Any]],
                      key: str = "test_accuracy") -> dict[str, Any]:
    """Rule − control in points (100 × accuracy), mean ± std over the seeds both finished (paired by
    seed: the control starts from the rule's own initial weights)."""
    ok = {r["seed"]: r for r in control_runs if not r.get("diverged") and r.get(key) is not None}
    diffs = [100 * (r[key] - ok[r["seed"]][key]) for r in rule_runs
             if not r.get("diverged") and r.get(key) is not None and r["seed"] in ok]
    if not diffs:
        return {"pairs": 0}
    mean, std = mean_std(diffs)
    return {"pairs": len(diffs), "mean": mean, "std": std, "per_seed": diffs}


def difference_cell(diff: dict[str, Any]) -> str:
    """"+0.42 ± 0.10" (the bare value for one pair, "—" for none)."""
    if not diff.get("pairs"):
        return "—"
    return f"{diff['mean']:+.2f}" + (f" ± {diff['std']:.2f}" if diff["pairs"] > 1 else "")


def units_cell(row: dict[str, Any] | None) -> str:
    """"dead % / duplicate %" of a row's first local layer (mean over seeds), "—" when not measured."""
    units = (row or {}).get("units")
    return "—" if not units else f"{100 * units['dead']:.1f} / {100 * units['duplicate']:.1f}"


def control_lines(pairs: Sequence[dict[str, Any]], with_model: bool = False) -> list[str]:
    """The Markdown section of random-feature controls: rows ``{"variant", "control", **paired_difference}``
    (and ``"model"`` when ``with_model``; ``"units"`` / ``"control_units"``: `units_cell` texts); empty
    without any."""
    if not pairs:
        return []
    lines = ["### Random-feature controls", "",
             "Each local rule beside the same network with its local layers frozen at their initialisation "
             "(`frozen=true`: same read-out, budget and seeds). rule − control: test-accuracy points, mean ± std "
             "over the seeds both finished (paired by seed); > 0 means the rule's features beat random ones. "
             "Dead / duplicate: % of the first local layer's units that respond the same to every probe image / "
             f"copy an earlier unit's weights (cosine > {DUPLICATE_COS:g}), for the rule and its control.", "",
             f"{'| model ' if with_model else ''}| rule | control | seeds paired | rule − control (points) | "
             "dead / duplicate, rule (%) | dead / duplicate, control (%) |",
             f"{'|---' if with_model else ''}|---|---|---:|---:|---:|---:|"]
    for p in pairs:
        model = f"| {p.get('model', '')} " if with_model else ""
        lines.append(f"{model}| {p['variant']} | {p['control']} | {p['pairs']} | {difference_cell(p)} | "
                     f"{p.get('units', '—')} | {p.get('control_units', '—')} |")
    return lines


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def run_grid(model: str, variants: Sequence[str], dataset: str, seeds: Sequence[int], out_dir: str | Path, *,
             progress: bool = True, transform_for: TransformFor | None = None, controls: bool = True,
             announce: Callable[[str], None] | None = None, **overrides: Any) -> list[dict[str, Any]]:
    """Train every variant with every seed under ``out_dir/runs``; returns the run summaries.
    ``transform_for`` gives a config's model transform (QAT: `spikefa.export.qat.qat_transform`);
    ``controls`` adds each local rule's random-feature control (`control_of`). ``announce`` is told,
    in words, which finished runs are reused and which runs in the folder the grid leaves out."""
    out = Path(out_dir)
    parsed = [(v, *parse_variant(v)) for v in (with_controls(variants) if controls else variants)]
    if not parsed:
        raise SpikefaError("--rules is empty: give at least one rule, e.g. --rules bp,fa")
    summaries = []
    for spec, rule, feedback, options in parsed:
        label = variant_label(spec)
        for seed in seeds:
            run_dir = out / "runs" / f"{run_name(label)}-seed{seed}"
            summaries.append(_one(model, (rule, feedback, options), dataset, seed, run_dir, label, progress, overrides,
                                  transform_for, announce))
    if announce is not None:
        mine = {Path(s["run_dir"]).name for s in summaries}
        others = sorted(p.name for p in (out / "runs").iterdir() if p.is_dir() and p.name not in mine)
        if others:
            announce(f"{out / 'runs'} also holds {', '.join(others)}; they are not in this table")
    return summaries


def run_name(label: str) -> str:
    """A folder name for a variant label."""
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in label)


def _one(model: str, variant: tuple[str, str | None, dict[str, Any]], dataset: str, seed: int, run_dir: Path,
         label: str, progress: bool, overrides: dict[str, Any], transform_for: TransformFor | None = None,
         announce: Callable[[str], None] | None = None) -> dict[str, Any]:
    rule, feedback, options = variant
    done = run_dir / "summary.json"
    config = resolve_config(model, rule, dataset, feedback=feedback, seed=seed, rule_options=options, **overrides)
    if (run_dir / "config.json").is_file():
        check_reusable(config, run_dir)
    if done.is_file():
        summary = json.loads(done.read_text())
        if announce is not None:
            announce(f"{run_dir}: finished with the same settings; reused, not retrained (delete it to train it again)")
    else:
        transform = transform_for(config) if transform_for is not None and config.qat else None
        summary = train(config, run_dir, progress=progress, resume=(run_dir / CHECKPOINT).is_file(),
                        transform=transform)
    summary["variant"] = label
    summary["run_dir"] = str(run_dir)
    summary["curve"] = _curve(run_dir / "metrics.csv")
    return summary


# Settings a reused run may differ in: where the data lives, the device, the checkpoint cadence, and
# the card (stored in full after training; its name is `model`).
_REUSE_IGNORES = frozenset({"data_dir", "device", "checkpoint_every", "card"})


def check_reusable(config: RunConfig, run_dir: Path) -> None:
    """A grid reuses a finished (or resumes an unfinished) run found in its folder only when that run was
    trained with the same settings. Raises SpikefaError naming each setting that differs (nothing is
    deleted or retrained)."""
    stored = read_config(run_dir)
    differ = [f"{f.name} {getattr(stored, f.name)!r} there, {getattr(config, f.name)!r} now" for f in fields(config)
              if f.name not in _REUSE_IGNORES and getattr(stored, f.name) != getattr(config, f.name)]
    if differ:
        raise SpikefaError(f"{run_dir} holds a run with other settings ({'; '.join(differ)}): give another --out, "
                           "or delete that run to train it again")


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
    layers = [next(iter(r["features"].values())) for r in ok if r.get("features")]
    if layers:  # the first local layer: mean fractions of dead and duplicate units over seeds
        row["units"] = {k: statistics.fmean(x[k] for x in layers) for k in ("dead", "duplicate")}
    motion = _feedback_means([r.get("feedback_motion") or {} for r in ok])
    if motion:
        row["feedback_motion"] = motion
    return row


def _feedback_means(runs: Sequence[dict[str, dict[str, Any]]]) -> dict[str, dict[str, list[float]]]:
    """Per stored-B layer: [mean, std] over seeds of ‖ΔB‖/‖B₀‖ and the start / end angles."""
    out: dict[str, dict[str, list[float]]] = {}
    for layer in sorted({k for r in runs for k in r}):
        stats = {}
        for key in ("moved", "angle_start", "angle_end"):
            values = [r[layer][key] for r in runs if layer in r and r[layer].get(key) is not None]
            if values:
                stats[key] = list(mean_std(values))
        out[layer] = stats
    return out


def feedback_cells(stats: dict[str, list[float]]) -> tuple[str, str, str]:
    """(‖ΔB‖/‖B₀‖, angle at the start, angle at the end) cells of one layer: "mean ± std"."""
    def cell(key: str, fmt: str) -> str:
        return "—" if key not in stats else f"{stats[key][0]:{fmt}} ± {stats[key][1]:{fmt}}"

    return cell("moved", ".3g"), cell("angle_start", ".1f"), cell("angle_end", ".1f")


def feedback_lines(rows: Sequence[dict[str, Any]], with_model: bool = False) -> list[str]:
    """The Markdown section on stored feedback matrices: how far B moved and its angle to the forward
    weights (FA: W; DFA: the downstream product) at the start and end of training, per layer."""
    head = "| model " if with_model else ""
    lines = ["### Feedback matrices", "",
             "‖ΔB‖/‖B₀‖: how far each stored feedback matrix moved during training (0: fixed B); angles in "
             "degrees between B and the forward weights it stands for (FA: W; DFA: the product of the downstream "
             "weights), at the start and at the end; mean ± std over seeds.", "",
             f"{head}| rule | layer | ‖ΔB‖/‖B₀‖ | angle at start (°) | angle at end (°) |",
             f"{'|---' if with_model else ''}|---|---|---:|---:|---:|"]
    for r in rows:
        for layer, stats in r.get("feedback_motion", {}).items():
            moved, start, end = feedback_cells(stats)
            model = f"| {r.get('model', '')} " if with_model else ""
            lines.append(f"{model}| {r['variant']} | {layer} | {moved} | {start} | {end} |")
    return lines


def accuracy_cells(row: dict[str, Any]) -> tuple[str, str]:
    """(test, val) cells: "mean ± std" over the seeds that finished, the bare value for one run
    (a single run has no spread to show), "—" when none finished."""
    if "test_mean" not in row:
        return "—", "—"
    n = row["seeds"] - row["diverged"]
    return tuple(f"{row[f'{k}_mean']:.2f}" + (f" ± {row[f'{k}_std']:.2f}" if n > 1 else "")  # type: ignore[return-value]
                 for k in ("test", "val"))


def seconds_cell(seconds: float) -> str:
    """Seconds per run: two significant digits below 10 s (a small run's 0.011 s is not "0.0"), whole
    seconds above."""
    return f"{seconds:.2g}" if seconds < 10 else f"{seconds:.0f}"


def row_cells(row: dict[str, Any]) -> list[str]:
    """A row's cells after its name: seeds, test (with how many seeds diverged and where the first
    stopped), val, epochs, seconds per run."""
    test, val = accuracy_cells(row)
    if row["diverged"]:
        test += f" ({row['diverged']}/{row['seeds']} diverged: {row['diverged_why'][0]})"
    return [str(row["seeds"]), test, val, str(row["epochs"]), seconds_cell(row["seconds"])]


def table_row(row: dict[str, Any]) -> str:
    """One Markdown row: accuracies, or how many seeds diverged and where the first stopped."""
    return "| " + " | ".join([row["variant"], *row_cells(row)]) + " |"


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
    summarized = {r["variant"]: r for r in rows}
    differences = [{"variant": label, "control": control, **paired_difference(by_variant[label], by_variant[control]),
                    "units": units_cell(summarized[label]), "control_units": units_cell(summarized[control])}
                   for label in by_variant if (control := control_of(label)) in by_variant]
    lines += ["", *control_lines(differences)] if differences else []
    lines += ["", *feedback_lines(rows)] if any("feedback_motion" in r for r in rows) else []
    table = "\n".join(lines) + "\n"
    atomic_write_text(out / "table.md", table)
    write_json(out / "results.json", {"title": title, "protocol": protocol, "rows": rows,
                                      "controls": differences,
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
        trained = f"{cfg.optimizer} lr {cfg.lr:g} ({cfg.schedule})" if s.get("optimizer", True) else "no optimiser"
        parts[s["variant"]] = trained + (
            f", options {options}" if options else "")
    first = read_config(summaries[0]["run_dir"])
    per_rule = "; ".join(f"{k}: {v}" for k, v in parts.items())
    limit = "" if first.limit_train is None else f", the first {first.limit_train} training examples only"
    if first.limit_eval is not None:
        limit += f", scored on the first {first.limit_eval} validation and test examples only"
    held = "the dataset's default size" if first.val_size is None else f"{first.val_size} examples"
    return (f"Protocol: model `{first.model}`, dataset `{first.dataset}`, batch {first.batch_size}, "
            f"{first.epochs} epoch{'' if first.epochs == 1 else 's'}{limit}, inputs standardized: {first.standardize}; validation split "
            f"({held}) held out of the training set; test accuracy after the last epoch (never used for selection). "
            f"Optimiser and options per rule: {per_rule}.")
