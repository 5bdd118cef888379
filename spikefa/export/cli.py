"""``spikefa export``: argument parsing only (the work is in `spikefa.export.pipeline` / `.sweep`).

    spikefa export RUN_DIR --target NAME --out DIR [--bits N] [--formats nir,onnx,c] [--no-verify]
    spikefa export sweep RUN_DIR --targets a,b --bits 8,4,2 --out DIR [--data-dir D] [--limit N]

User errors raise `SpikefaError` (one line, exit 2 in `spikefa.cli.main`); a refused export's
message lists every violation. An artefact that disagrees with its reference exits 1.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from spikefa.errors import SpikefaError


def _ints(flag: str, text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise SpikefaError(f"{flag} {text!r} must be a comma list of integers, e.g. 8,4,2") from None
    if not values or any(v < 1 for v in values):
        raise SpikefaError(f"{flag} {text!r} must list integers >= 1")
    return values


def _names(flag: str, text: str | None) -> list[str] | None:
    if text is None:
        return None
    names = [v.strip() for v in text.split(",") if v.strip()]
    if not names:
        raise SpikefaError(f"{flag} {text!r} names nothing; give a comma list")
    return names


def cmd_export(a: argparse.Namespace) -> int:
    """Dispatch ``export RUN_DIR`` and ``export sweep RUN_DIR``."""
    if a.items[0] == "sweep":
        return cmd_sweep(a, a.items[1:])
    if len(a.items) != 1:
        raise SpikefaError(f"spikefa export takes one RUN_DIR, got {' '.join(a.items)!r} (or: spikefa export sweep RUN_DIR)")
    missing = [f for f, v in (("--target", a.target), ("--out", a.out)) if v is None]
    if missing:
        raise SpikefaError(f"spikefa export needs {' and '.join(missing)} (spikefa export RUN_DIR --target NAME --out DIR)")
    from spikefa.export.network import from_run_dir
    from spikefa.export.pipeline import export
    from spikefa.export.profile import load_profile

    profile = load_profile(a.target)
    bits = None if a.bits is None else _ints("--bits", a.bits)
    if bits is not None and len(bits) != 1:
        raise SpikefaError(f"--bits {a.bits!r}: export takes one bit width (the sweep takes a list)")
    net, meta = from_run_dir(a.items[0])
    summary = export(net, profile, a.out, bits=bits[0] if bits else None, formats=_names("--formats", a.formats),
                     meta=meta, verify=not a.no_verify)
    _print_summary(summary, a.out)
    return 0 if summary["ok"] else 1


def _print_summary(summary: dict[str, Any], out: str) -> None:
    for fmt, files in summary["files"].items():
        print(f"{fmt}: {', '.join(files)}")
    for v in summary["verification"]:
        if v["skipped"]:
            print(f"{v['format']}: NOT VERIFIED ({v['note']}); the artefact is written but unchecked")
            continue
        state = "agrees" if v["ok"] else "DISAGREES"
        print(f"{v['format']}: {state} with the {v['reference']} ({v['mismatches']}/{v['total']} spikes differ)")
    print(f"-> {Path(out) / 'export.json'}, {Path(out) / 'report.md'}")


def cmd_sweep(a: argparse.Namespace, items: list[str]) -> int:
    """Accuracy versus bits per target on the run's test split (rate-coded, seeded)."""
    if len(items) != 1:
        raise SpikefaError("spikefa export sweep takes one RUN_DIR (spikefa export sweep RUN_DIR --targets a,b --bits 8,4,2 --out DIR)")
    targets = _names("--targets", a.targets) or _names("--target", a.target)
    if not targets or a.out is None:
        raise SpikefaError("spikefa export sweep needs --targets a,b and --out DIR")
    bits = _ints("--bits", a.bits or "8,4,2")
    from spikefa.data import get_dataset, load_dataset
    from spikefa.export.network import from_run_dir
    from spikefa.export.profile import load_profile
    from spikefa.export.sweep import rate_batches, sweep, write_sweep
    from spikefa.functional.encoders import encoder_of
    from spikefa.runs.model import card_of, read_config

    profiles = [load_profile(t) for t in targets]  # unknown names fail before the data loads
    net, meta = from_run_dir(items[0])
    card = card_of(read_config(items[0]))  # the run's own card, never the file
    if card.encoder is None:
        raise SpikefaError(f"model {meta['model']!r} has no [encoder] section; the sweep needs a spiking card")
    if get_dataset(meta["dataset"]).kind != "images":
        raise SpikefaError(f"spikefa export sweep rate-encodes test images; the run's dataset {meta['dataset']!r} "
                           "holds events: sweep a run trained on an image dataset (spikefa list datasets)")
    data = load_dataset(meta["dataset"], a.data_dir or meta.get("data_dir"))
    x, y = data.x_test[: a.limit], data.y_test[: a.limit]
    encoder = encoder_of(card.encoder)
    rows = sweep(net, profiles, bits, rate_batches(x, y, encoder, a.batch_size, a.seed))
    paths = write_sweep(rows, a.out)
    print((Path(a.out) / "sweep.md").read_text(), end="")
    print(f"-> {', '.join(str(p) for p in paths)}")
    return 0


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``export`` on the main CLI's subparsers; returns the new parser."""
    e = subparsers.add_parser("export", help="export a trained spiking run to hardware (NIR, ONNX, C) or sweep bits",
                              description="spikefa export RUN_DIR --target NAME --out DIR | "
                                          "spikefa export sweep RUN_DIR --targets a,b --bits 8,4,2 --out DIR")
    e.add_argument("items", nargs="+", metavar="RUN_DIR", help="a run directory, or: sweep RUN_DIR")
    e.add_argument("--target", help="hardware profile name or .toml path (hardware/: loihi2, xylo-audio2, ...)")
    e.add_argument("--targets", help="sweep: comma list of profiles")
    e.add_argument("--bits", help="weight bits: one for export (default: the profile's), a list for the sweep (8,4,2)")
    e.add_argument("--formats", help="comma list of writers (default: the profile's), from nir, onnx, c")
    e.add_argument("--out", help="output directory (export: the artefacts and report; sweep: the table and plot)")
    e.add_argument("--no-verify", action="store_true", help="skip running the artefacts against their references")
    e.add_argument("--data-dir", help="sweep: dataset folder (else the run's, else $SPIKEFA_DATA)")
    e.add_argument("--limit", type=int, default=None, help="sweep: use the first N test examples (default: all)")
    e.add_argument("--batch-size", type=int, default=256, help="sweep: batch size")
    e.add_argument("--seed", type=int, default=0, help="sweep: seed of the rate encoder's generator")
    e.set_defaults(func=cmd_export)
    return e
