"""``spikefa demo``: every rule and feedback kind on the embedded digits data, in about a minute."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from spikefa.rules import FEEDBACK_KINDS
from spikefa.train.compare import protocol_text, run_grid, write_report

DEMO_MODEL = "mlp-1x800-tanh"


def demo_variants() -> list[str]:
    """Backprop, sign symmetry, FA and DFA with every feedback kind, the Hebbian family and the
    competitive rules (Krotov & Hopfield, SoftHebb)."""
    kinds = [k for k in FEEDBACK_KINDS if k != "sign"]
    hebbian = ["hebb+threshold=true+gradient_sparsity=true", "oja+threshold=true+gradient_sparsity=true",
               "sum+beta=0.001", "hebbian-descent", "fa+plastic=hebb", "dfa+plastic=hebb", "krotov", "softhebb"]
    return ["bp", "sign", *[f"fa:{k}" for k in kinds], *[f"dfa:{k}" for k in FEEDBACK_KINDS], *hebbian]


def run_demo(out_dir: str | Path, epochs: int = 15, seeds: Sequence[int] = (0, 1, 2), progress: bool = True,
             limit_train: int | None = None) -> str:
    """Train the grid on digits (no data files needed) and write table.md, results.json and curves.png:
    one panel per rule with several variants (fa, dfa with every feedback kind) and one for the
    single-variant rules, val accuracy per epoch (mean ± std over seeds) with backprop as the
    dashed reference in each panel and the test accuracy after the last epoch as a star.
    ``limit_train`` trains each run on the first N training examples only (a quicker look)."""
    summaries = run_grid(DEMO_MODEL, demo_variants(), "digits", list(seeds), out_dir, progress=progress,
                         epochs=epochs, align_every=10, limit_train=limit_train)
    title = f"spikefa demo: {DEMO_MODEL} on scikit-learn digits, every rule"
    table = write_report(summaries, out_dir, title, protocol_text(summaries, out_dir))
    return table + f"\n-> {Path(out_dir) / 'table.md'}, {Path(out_dir) / 'curves.png'}\n"
