"""A setting an experiment chooses before its table, on the validation split (never the test split):
one rule option tried at a few values on the first seed with the experiment's own budget, then
fixed for every seed of the table (whose first-seed runs are the sweep's, reused from disk).

Two ways of choosing:

- ``largest-stable``: one value for all swept rows, the largest at which none of their runs
  diverged (weights or loss overflowing; the blog's "a learning rate low enough that weights do
  not overflow"); the smallest value when every one diverged (the table then shows it). Values are
  tried from the largest down and the sweep stops at the first stable one (a diverging run stops
  early, so the sweep costs little more than the table).
- ``best-moving``: per row, the value with the best validation accuracy among those where the
  run's stored feedback matrices moved measurably (mean over layers of ‖ΔB‖/‖B₀‖ ≥ `MOVED`); when
  none did, the value that moved B most.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Mapping, Sequence

MOVED = 0.05
"""‖ΔB‖/‖B₀‖ a plastic B must reach (mean over layers) to count as having learned measurably."""


@dataclass(frozen=True)
class Sweep:
    """``option`` at ``values`` (tried in this order) for the rows listed in ``rows`` (variants as
    written in the experiment, before the option is appended)."""

    option: str
    values: tuple[float, ...]
    rows: tuple[str, ...]
    choose: Literal["largest-stable", "best-moving"]

    def variant(self, row: str, value: float) -> str:
        """The row with the option at ``value`` appended."""
        return f"{row}+{self.option}={value:g}"

    def rounds(self) -> list[tuple[float, ...]]:
        """The values to run, round by round: largest-stable one at a time from the largest, so it can
        stop at the first stable one (`settled`); best-moving all at once."""
        if self.choose == "largest-stable":
            return [(v,) for v in sorted(self.values, reverse=True)]
        return [self.values]

    def settled(self, runs: Mapping[tuple[str, float], Mapping[str, Any]]) -> bool:
        """Whether the runs so far decide the choice (largest-stable: some value has no diverged run)."""
        if self.choose != "largest-stable":
            return True
        tried = {v for _, v in runs}
        return any(all(not runs[(r, v)].get("diverged") for r in self.rows) for v in tried)


def moved(summary: Mapping[str, Any]) -> float | None:
    """Mean over layers of ‖ΔB‖/‖B₀‖ in a run's summary (None without stored feedback)."""
    values = [v["moved"] for v in (summary.get("feedback_motion") or {}).values() if v.get("moved") is not None]
    return sum(values) / len(values) if values else None


def choose(sweep: Sweep, runs: Mapping[tuple[str, float], Mapping[str, Any]]) -> dict[str, float]:
    """Row -> chosen value, from the sweep's runs keyed by (row, value)."""
    tried = [v for v in sweep.values if all((r, v) in runs for r in sweep.rows)]
    if sweep.choose == "largest-stable":
        stable = [v for v in tried if all(not runs[(r, v)].get("diverged") for r in sweep.rows)]
        value = max(stable) if stable else min(tried)
        return {r: value for r in sweep.rows}
    out = {}
    for r in sweep.rows:
        ok = [v for v in tried if not runs[(r, v)].get("diverged")] or tried
        moving = [v for v in ok if (moved(runs[(r, v)]) or 0.0) >= MOVED]
        if moving:
            out[r] = max(moving, key=lambda v: (runs[(r, v)].get("val_accuracy") or 0.0, -v))
        else:
            out[r] = max(ok, key=lambda v: moved(runs[(r, v)]) or 0.0)
    return out


def sweep_lines(sweep: Sweep, runs: Mapping[tuple[str, float], Mapping[str, Any]], chosen: Mapping[str, float],
                seed: int) -> list[str]:
    """The Markdown record of a sweep: every (row, value) run and the value chosen."""
    rule = {"largest-stable": "the largest value at which no swept run diverged",
            "best-moving": "per row, the best val accuracy among the values where B moved "
                           f"(mean ‖ΔB‖/‖B₀‖ ≥ {MOVED:g})"}
    lines = [f"Chosen on the validation split (seed {seed}, this table's budget): `{sweep.option}` in "
             f"{{{', '.join(f'{v:g}' for v in sweep.values)}}}, {rule[sweep.choose]}"
             f"{'' if len({v for _, v in runs}) == len(sweep.values) else ' (smaller values not needed)'}.", "",
             f"| row | {sweep.option} | val accuracy (%) | ‖ΔB‖/‖B₀‖ | diverged | chosen |",
             "|---|---:|---:|---:|---|---|"]
    for r in sweep.rows:
        for v in sweep.values:
            if (r, v) not in runs:
                continue
            s = runs[(r, v)]
            val = "—" if s.get("val_accuracy") is None or s.get("diverged") else f"{100 * s['val_accuracy']:.2f}"
            m = moved(s)
            lines.append(f"| {r} | {v:g} | {val} | {'—' if m is None else f'{m:.3g}'} | "
                         f"{'yes' if s.get('diverged') else 'no'} | {'**yes**' if chosen[r] == v else ''} |")
    return lines


def resolve_rows(sweep: Sweep, pairs: Sequence[tuple[str, str]], chosen: Mapping[str, float]
                 ) -> tuple[tuple[str, str], ...]:
    """The experiment's (model, variant) pairs with each swept row's chosen value appended."""
    return tuple((m, sweep.variant(v, chosen[v]) if v in chosen else v) for m, v in pairs)
