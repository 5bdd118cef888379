"""Markdown report and one PNG per experiment, from the runs' summaries and configs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping, Sequence

from spikefa.runs.checkpoint import atomic_write_text, write_json
from spikefa.train.compare import (control_lines, control_of, feedback_lines, paired_difference,
                                   row_cells, summarize_runs, units_cell)
from spikefa.train.plots import _pyplot


def _protocol(configs: list[dict[str, Any]]) -> str:
    first = configs[0]
    per = sorted({f"{c['rule']}: {c['optimizer']} lr {c['lr']:g} wd {c['weight_decay']:g}" for c in configs})
    return (f"Protocol: dataset `{first['dataset']}`, batch {first['batch_size']}, {first['epochs']} epochs, "
            f"{first['schedule']} schedule, inputs standardized: {first.get('standardize', first.get('normalize'))}, "
            f"training examples: "
            f"{first['limit_train'] or 'all'} (validation split held out of the training set); test accuracy "
            f"after the last epoch; Hebbian layers step by plain SGD at their local_lr. Optimisers (model-card "
            f"presets): {'; '.join(per)}.")


def _colour(row: dict[str, Any]) -> str:
    """Grey: nothing finished; black: backprop; light blue: a random-feature control; blue: a rule."""
    if "test_mean" not in row:
        return "#bbbbbb"
    return "#444444" if row["variant"] == "bp" else "#9ecae1" if row.get("is_control") else "#3b75af"


def _plot(path: Path, exp: Any, rows: list[dict[str, Any]]) -> None:
    plt = _pyplot()
    if plt is None:
        return
    fig, ax = plt.subplots(figsize=(max(6.0, 0.55 * len(rows)), 4.2))
    if exp.plot == "beta":
        bp = next((r for r in rows if r["variant"] == "bp" and "test_mean" in r), None)
        for h in ("hebb", "oja"):
            pts = [(float(r["variant"].split("beta=")[1].split("+")[0]), r) for r in rows
                   if r["variant"].startswith("sum") and f"hebbian={h}" in r["variant"] and "test_mean" in r]
            if pts:
                pts.sort()
                ax.errorbar([b for b, _ in pts], [r["test_mean"] for _, r in pts], [r["test_std"] for _, r in pts],
                            marker="o", capsize=3, label=f"sum rule ({h})")
        if bp:
            ax.axhline(bp["test_mean"], color="black", ls="--", lw=1, label="backprop")
        ax.set(xscale="log", xlabel="beta", ylabel="test accuracy (%)")
        ax.legend()
    else:
        labels = [f"{r['model']}\n{r['variant']}" if r.get("show_model") else r["variant"] for r in rows]
        means = [r.get("test_mean", 0.0) for r in rows]
        ax.bar(range(len(rows)), means, yerr=[r.get("test_std", 0.0) for r in rows], capsize=3,
               color=[_colour(r) for r in rows])
        for i, r in enumerate(rows):
            if r["diverged"]:
                ax.text(i, 1, f"{r['diverged']}/{r['seeds']}\ndiverged", ha="center", fontsize=7, color="red")
        ax.set_xticks(range(len(rows)), labels, rotation=60, ha="right", fontsize=7)
        finite = [m for m in means if m > 0]
        ax.set(ylabel="test accuracy (%)", ylim=(max(0.0, min(finite, default=0) - 5), 100))
    ax.set_title(exp.title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_experiment_report(out: Path, experiments: Sequence[Any], settings: Any,
                            by_dir: Mapping[str, dict[str, Any]], jobs: Mapping[str, tuple[Any, ...]],
                            sweeps: Mapping[str, list[str]] | None = None) -> str:
    """report.md (one section, table and PNG per experiment: the settings chosen on validation, the
    table, the random-feature controls, the feedback matrices' motion, the findings computed from the
    rows) and results.json under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    lines = ["# Feedback alignment vs Hebbian variants (`spikefa reproduce fa-hebbian`)", "",
             f"Seeds: {', '.join(map(str, settings.seeds))}. Mean ± std of test accuracy (%) over seeds. "
             "A diverged run is counted and named, never averaged in.", ""]
    everything = {}
    for exp in experiments:
        multi_model = len({m for m, _ in exp.pairs}) > 1
        rows, configs, runs_of = [], [], {}
        for model, variant in exp.pairs:
            dirs = [d for d, j in jobs.items() if j[0] == model and j[1] == variant]
            runs = runs_of[(model, variant)] = [by_dir[d] for d in dirs]
            configs += [json.loads((Path(d) / "config.json").read_text()) for d in dirs if (Path(d) / "config.json").is_file()]
            row = summarize_runs(variant, runs)
            row.update(model=model, show_model=multi_model)
            rows.append(row)
        row_of = {(r["model"], r["variant"]): r for r in rows}
        controls = [{"model": m, "variant": v, "control": c, **paired_difference(runs_of[(m, v)], runs_of[(m, c)]),
                     "units": units_cell(row_of[(m, v)]), "control_units": units_cell(row_of[(m, c)])}
                    for m, v in exp.pairs if (c := control_of(v)) is not None and (m, c) in runs_of]
        for r in rows:
            r["is_control"] = any(c["control"] == r["variant"] and c["model"] == r["model"] for c in controls)
            own = [c for c in controls if (c["model"], c["variant"]) == (r["model"], r["variant"])]
            if own:
                r["control"] = own[0]
        png = out / f"{exp.key}.png"
        _plot(png, exp, rows)
        lines += [f"## {exp.title}", "", _protocol(configs) if configs else "", ""]
        if exp.note:
            lines += [exp.note, ""]
        if sweeps and exp.key in sweeps:
            lines += [*sweeps[exp.key], ""]
        lines += ["| model | variant | seeds | test accuracy (%) | val accuracy (%) | epochs | seconds per run |",
                  "|---|---|---:|---:|---:|---:|---:|"]
        lines += ["| " + " | ".join([r["model"], r["variant"], *row_cells(r)]) + " |" for r in rows]
        lines += ["", *control_lines(controls, with_model=True), ""] if controls else [""]
        if any("feedback_motion" in r for r in rows):
            lines += [*feedback_lines(rows, with_model=True), ""]
        if exp.findings is not None:
            lines += ["### The blog's findings, from these numbers", "", *exp.findings(rows, controls), ""]
        lines += [f"![{exp.key}]({png.name})", ""]
        everything[exp.key] = rows
    text = "\n".join(lines) + "\n"
    atomic_write_text(out / "report.md", text)
    write_json(out / "results.json", everything)
    return text
