"""``spikefa export``: argument parsing only (the work is in `spikefa.export.pipeline` / `.sweep`).

    spikefa export RUN_DIR --target NAME --out DIR [--bits N] [--state-bits B] [--formats nir,onnx,c]
                   [--no-verify] [--verify-examples N] [--force]
    spikefa export model.nir --target NAME --out DIR --dt SECONDS --reset zero|subtract [...]
    spikefa export sweep RUN_DIR --targets a,b --bits 8,4,2 [--state-bits 8,4] --out DIR [--data-dir D] [--limit N]

``--state-bits`` defaults to the run's QAT state width (``spikefa train --qat P --state-bits B``)
when it has one, else the profile's; ``--bits`` to the weight width the run trained for when the
target is the profile it trained through (``--qat P:BITS``), else the profile's. Every artefact is verified spike for spike on a seeded random
raster and, when the run's test data loads (as for the accuracy), on a real batch: the first
``--verify-examples`` test examples (default 16) through the run's encoder, seeded ``--seed``.

User errors raise `SpikefaError` (one line, exit 2 in `spikefa.cli.main`); a refused export's
message lists every violation; an ``--out`` folder holding an earlier export is refused unless
``--force``. An artefact that disagrees with its reference exits 1.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

from spikefa._args import comma_items, positive_ints
from spikefa.errors import SpikefaError


def _names(flag: str, text: str | None) -> list[str] | None:
    if text is None:
        return None
    return comma_items(flag, text)


def _seconds(flag: str, text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise SpikefaError(f"{flag} {text!r} must be a time step in seconds > 0, e.g. 1e-3")
    return value


def is_nir_source(source: str) -> bool:
    """A ``.nir`` file (or any file): a graph written by another tool, not a run directory."""
    path = Path(source)
    return path.suffix == ".nir" or path.is_file()


def cmd_export(a: argparse.Namespace) -> int:
    """Dispatch ``export RUN_DIR``, ``export model.nir`` and ``export sweep RUN_DIR``."""
    if a.items[0] == "sweep":
        return cmd_sweep(a, a.items[1:])
    if len(a.items) != 1:
        raise SpikefaError(f"spikefa export takes one RUN_DIR or .nir file, got {' '.join(a.items)!r} "
                           "(or: spikefa export sweep RUN_DIR)")
    missing = [f for f, v in (("--target", a.target), ("--out", a.out)) if v is None]
    if missing:
        raise SpikefaError(f"spikefa export needs {' and '.join(missing)} (spikefa export RUN_DIR --target NAME --out DIR)")
    from spikefa.export.pipeline import existing_export, export
    from spikefa.export.profile import load_profile

    previous = existing_export(a.out)
    if previous is not None and not a.force:
        raise SpikefaError(f"--out {a.out} already holds an export ({previous.name}); give --force to replace it, "
                           "or choose another folder")
    profile = load_profile(a.target)
    bits = None if a.bits is None else positive_ints("--bits", a.bits)
    if bits is not None and len(bits) != 1:
        raise SpikefaError(f"--bits {a.bits!r}: export takes one bit width (the sweep takes a list)")
    state = None if a.state_bits is None else positive_ints("--state-bits", a.state_bits)
    if state is not None and len(state) != 1:
        raise SpikefaError(f"--state-bits {a.state_bits!r}: export takes one state width (the sweep takes a list)")
    if a.verify_examples < 0:
        raise SpikefaError(f"--verify-examples {a.verify_examples} must be >= 0 (0: verify on the random raster only)")
    net, meta, split, note = _source(a)
    batches, batches_note = _accuracy_batches(split, note, a)
    real, real_source, real_note = _real_batch(split, note, meta, a)
    own = meta.get("qat_profile") == profile.name  # the run's QAT widths hold for the profile it trained for
    state_bits = state[0] if state else (meta.get("qat_state_bits") if own else None)
    trained = meta.get("qat_bits") if own else None
    stale = _listed_files(previous)
    summary = export(net, profile, a.out, bits=bits[0] if bits else trained, formats=_names("--formats", a.formats),
                     meta=meta, verify=not a.no_verify, batches=batches, batches_note=batches_note,
                     state_bits=state_bits, real_spikes=real, real_source=real_source, real_note=real_note)
    written = {f for files in summary["files"].values() for f in files}
    written |= {"golden.pt"} if summary["verification"] else set()
    for name in stale - written:  # --force: the earlier export's other artefacts (and stale golden spikes) go
        (Path(a.out) / name).unlink(missing_ok=True)
    _print_summary(summary, a.out)
    return 0 if summary["ok"] else 1


def _source(a: argparse.Namespace) -> tuple[Any, dict[str, Any], Any, str | None]:
    """(network, meta, the run's test split (x, y, encoder) or None, why there is none) of the
    export's source."""
    source = a.items[0]
    dt = _seconds("--dt", a.dt)
    if is_nir_source(source):
        from spikefa.export.nir_import import from_nir

        if a.checkpoint != "last":
            raise SpikefaError("--checkpoint is for run directories; a NIR graph holds one set of weights")
        dt, reset, stated = _sidecar_defaults(Path(source), dt, a.reset)
        net = from_nir(source, dt=dt, reset=reset)
        meta = {"source": str(source), "kind": "nir", "dt_s": dt, "reset": reset, **stated}
        return net, meta, None, "a NIR graph brings no test data"
    if dt is not None or a.reset is not None:
        raise SpikefaError("--dt and --reset are for NIR graphs (spikefa export model.nir ...); a run directory "
                           "states its own")
    net, meta = _from_run(source, a.checkpoint)
    if a.no_accuracy and (a.no_verify or a.verify_examples == 0):
        return net, meta, None, "--no-accuracy"
    if a.data_dir:  # the run's meta.data_dir is the folder it trained from; say where the test images came from
        meta = {**meta, "test_data_dir": str(Path(a.data_dir).resolve())}
    try:
        return net, meta, _test_split(source, meta, a), None
    except SpikefaError as exc:
        return net, meta, None, str(exc)


def _sidecar_defaults(source: Path, dt: float | None, reset: str | None) -> tuple[float | None, str | None,
                                                                               dict[str, str]]:
    """(dt, reset, what was read): a graph spikefa wrote has ``model.nir.json`` beside it, which
    states the time base its τ were computed for and each layer's reset; those fill a missing --dt /
    --reset (said on stdout and in the export's meta). Any other graph: unchanged, so still asked for."""
    side = source.with_name(source.name + ".json")
    if (dt is not None and reset is not None) or not side.is_file():
        return dt, reset, {}
    import json

    try:
        doc = json.loads(side.read_text())
    except ValueError:
        return dt, reset, {}
    if not isinstance(doc, dict) or doc.get("format") != "spikefa-nir-sidecar/1":
        return dt, reset, {}
    stated: dict[str, str] = {}
    if dt is None and isinstance(doc.get("tau_time_base_s"), (int, float)):
        dt, stated["dt_from"] = float(doc["tau_time_base_s"]), str(side)
    resets = {layer.get("reset") for layer in doc.get("layers") or [] if isinstance(layer, dict)}
    if reset is None and len(resets) == 1 and next(iter(resets)) in ("zero", "subtract"):
        reset, stated["reset_from"] = str(next(iter(resets))), str(side)
    read = [f"dt = {dt:g} s"] * ("dt_from" in stated) + [f"reset = {reset}"] * ("reset_from" in stated)
    if read:
        print(f"{side}: {' and '.join(read)}, as spikefa wrote the graph (give --dt / --reset to override)")
    return dt, reset, stated


def _accuracy_batches(split: Any, note: str | None, a: argparse.Namespace) -> tuple[Any, str | None]:
    """(the test split's first ``--limit`` examples as seeded encoded batches, or None; why not)."""
    if a.no_accuracy:
        return None, "--no-accuracy"
    if split is None:
        return None, note
    from spikefa.export.sweep import rate_batches

    x, y, encoder = split
    return rate_batches(x[: a.limit], y[: a.limit], encoder, a.batch_size, a.seed), None


def _real_batch(split: Any, note: str | None, meta: dict[str, Any],
                a: argparse.Namespace) -> tuple[Any, str | None, str | None]:
    """(the real verification batch [T, B, ...] or None, what it is, why there is none)."""
    if a.no_verify:
        return None, None, "--no-verify"
    if a.verify_examples == 0:
        return None, None, "--verify-examples 0"
    if split is None:
        return None, None, note
    from spikefa.export.pipeline import real_batch

    x, _, encoder = split
    spikes = real_batch(x, encoder, a.verify_examples, a.seed)
    source = (f"the first {spikes.shape[1]} test examples of {meta['dataset']!r}, encoded by the run's "
              f"{type(encoder).__name__} (T = {spikes.shape[0]}, seed {a.seed})")
    return spikes, source, None


def _from_run(run_dir: str, which: str = "last") -> tuple[Any, dict[str, Any]]:
    """`from_run_dir`, with ``meta["qat_state_bits"]``: the membrane width the run trained with
    (``spikefa train --qat P --state-bits B``), None for the profile's (and for older runs); and
    ``meta["qat_profile"]`` / ``meta["qat_bits"]`` for a run trained through ``--qat P:BITS``."""
    from spikefa.export.network import from_run_dir
    from spikefa.runs.checkpoint import BEST, CHECKPOINT
    from spikefa.runs.model import read_config

    net, meta = from_run_dir(run_dir, BEST if which == "best" else CHECKPOINT)
    config = read_config(run_dir)
    if config.state_bits is not None:
        meta["qat_state_bits"] = config.state_bits
    if config.qat:
        name, _, bits = config.qat.partition(":")
        meta["qat_profile"] = name
        if bits:
            meta["qat_bits"] = int(bits)
    return net, meta


def _listed_files(previous: Path | None) -> set[str]:
    """The artefact names an earlier ``export.json`` lists (empty when there is none or it is unreadable)."""
    if previous is None or previous.name != "export.json":
        return set()
    import json

    try:
        files = json.loads(previous.read_text()).get("files", {})
        return {Path(f).name for names in files.values() for f in names} | {"golden.pt"}
    except (ValueError, AttributeError, TypeError):
        return set()


def _test_batches(run_dir: str, meta: dict[str, Any], a: argparse.Namespace) -> Any:
    """The run's test split (its first ``--limit`` examples), rate-encoded by its card's encoder
    (seeded): a callable giving (spikes, labels) batches. Raises `SpikefaError` as `_test_split`."""
    from spikefa.export.sweep import rate_batches

    x, y, encoder = _test_split(run_dir, meta, a)
    return rate_batches(x[: a.limit], y[: a.limit], encoder, a.batch_size, a.seed)


def _test_split(run_dir: str, meta: dict[str, Any], a: argparse.Namespace) -> tuple[Any, Any, Any]:
    """(test inputs [N, ...], labels [N], the run's card's encoder). Raises `SpikefaError` when the
    card or the data do not allow it."""
    from spikefa.data import get_dataset, load_dataset
    from spikefa.functional.encoders import encoder_of
    from spikefa.runs.model import card_of, read_config

    card = card_of(read_config(run_dir))  # the run's own card, never the file
    if card.encoder is None:
        raise SpikefaError(f"model {meta['model']!r} has no [encoder] section; the test split needs a spiking card "
                           "to encode it")
    if get_dataset(meta["dataset"]).kind != "images":
        raise SpikefaError(f"spikefa export rate-encodes test images; the run's dataset {meta['dataset']!r} "
                           "holds events: use a run trained on an image dataset (spikefa list datasets)")
    data = load_dataset(meta["dataset"], a.data_dir or meta.get("data_dir"))
    x, y = data.x_test, data.y_test
    want = meta.get("input_shape")
    if want is not None and x[0].numel() != math.prod(want):
        raise SpikefaError(f"the run takes inputs of shape {tuple(want)} but {meta['dataset']!r}'s test images are "
                           f"{tuple(x.shape[1:])}; give the run's own dataset with --data-dir")
    return x, y, encoder_of(card.encoder)


def _print_summary(summary: dict[str, Any], out: str) -> None:
    print(f"{summary['profile']}: {summary['bits']}-bit weights, {summary['state_bits']}-bit state")
    for fmt, files in summary["files"].items():
        print(f"{fmt}: {', '.join(files)}")
    for fmt, why in summary.get("left_out", {}).items():
        print(f"{fmt}: left out, it cannot represent this network ({why})")
    inputs = summary.get("verification_inputs") or {}
    real = inputs.get("real")
    where = {"random": " on the random raster", "real": f" on the real batch ({real['examples']} test examples)"
             if real else ""}
    for v in summary["verification"] + (summary.get("verification_real") or []):
        on = where.get(v.get("input", ""), "")
        if v["skipped"]:
            print(f"{v['format']}: NOT VERIFIED{on} ({v['note']}); the artefact is written but unchecked")
            continue
        state = "agrees" if v["ok"] else "DISAGREES"
        ties = f", {v['ties']} tie disagreements at U = θ apart" if v.get("ties") else ""
        print(f"{v['format']}: {state} with the {v['reference']} ({v['mismatches']}/{v['total']} spikes differ{ties})"
              f"{on}")
    if summary["verification"] and not real:
        print(f"real batch: not run ({inputs.get('real_note') or 'no test data'}); verified on the random raster only")
    for warning in summary.get("warnings") or []:
        print(f"spikefa export: warning: {warning}", file=sys.stderr)
    print(f"-> {Path(out) / 'export.json'}, {Path(out) / 'report.md'}")


def cmd_sweep(a: argparse.Namespace, items: list[str]) -> int:
    """Accuracy versus bits per target on the run's test split (rate-coded, seeded)."""
    if len(items) != 1:
        raise SpikefaError("spikefa export sweep takes one RUN_DIR (spikefa export sweep RUN_DIR --targets a,b --bits 8,4,2 --out DIR)")
    targets = _names("--targets", a.targets) or _names("--target", a.target)
    if not targets or a.out is None:
        raise SpikefaError("spikefa export sweep needs --targets a,b and --out DIR")
    bits = positive_ints("--bits", a.bits or "8,4,2")
    given = None if a.state_bits is None else positive_ints("--state-bits", a.state_bits)
    from spikefa.export.profile import load_profile
    from spikefa.export.sweep import sweep, write_sweep

    earlier = [p for p in (Path(a.out) / f"sweep.{ext}" for ext in ("json", "md", "csv")) if p.is_file()]
    if earlier and not a.force:
        raise SpikefaError(f"--out {a.out} already holds a sweep ({earlier[0].name}); give --force to replace it, "
                           "or choose another --out")
    profiles = [load_profile(t) for t in targets]  # unknown names fail before the data loads
    reasons = []
    for width in given or []:
        for prof in profiles:
            try:
                prof.with_state_bits(width)
            except SpikefaError as exc:
                reasons.append(str(exc))
    if given and len(reasons) == len(given) * len(profiles):  # every cell would be refused: say so now, not as a table
        raise SpikefaError(f"--state-bits {a.state_bits}: no target of the sweep takes any of these widths "
                           f"({reasons[0]})")
    net, meta = _from_run(items[0], a.checkpoint)
    trained = {meta["qat_profile"]: meta["qat_state_bits"]} if meta.get("qat_state_bits") else None
    rows = sweep(net, profiles, bits, _test_batches(items[0], meta, a), progress=not a.no_progress,
                 state_bits=given if given is not None else [None], trained_state_bits=trained)
    paths = write_sweep(rows, a.out)
    print((Path(a.out) / "sweep.md").read_text(), end="")
    print(f"-> {', '.join(str(p) for p in paths)}")
    if rows and all(r.status.startswith("refused") for r in rows):
        print("spikefa export sweep: every cell was refused by its target (see the status column)", file=sys.stderr)
        return 1
    return 0


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``export`` on the main CLI's subparsers; returns the new parser."""
    e = subparsers.add_parser("export", help="export a trained spiking run or a NIR graph to hardware (NIR, ONNX, C) "
                                             "or sweep bits",
                              description="spikefa export RUN_DIR --target NAME --out DIR | "
                                          "spikefa export model.nir --target NAME --out DIR --dt S --reset zero | "
                                          "spikefa export sweep RUN_DIR --targets a,b --bits 8,4,2 [--state-bits 8,4] --out DIR")
    e.add_argument("items", nargs="+", metavar="RUN_DIR", help="a run directory, a .nir graph, or: sweep RUN_DIR")
    e.add_argument("--target", help="hardware profile name or .toml path (hardware/: loihi2, xylo-audio2, ...)")
    e.add_argument("--targets", help="sweep: comma list of profiles")
    e.add_argument("--bits", help="weight bits: one for export (default: the run's --qat PROFILE:BITS for that "
                   "profile, else the profile's), a list for the sweep (8,4,2)")
    e.add_argument("--state-bits", metavar="B",
                   help="membrane bits, fewer than the profile's sharing the weights' scale (MINT): one for export, "
                        "a list for the sweep (8,4,2); default: the run's --qat state width, else the profile's")
    e.add_argument("--formats", help="comma list of writers (default: the profile's, leaving out those that cannot "
                                     "represent the network), from nir, onnx, c")
    e.add_argument("--out", help="output directory (export: the artefacts and report; sweep: the table and plot)")
    e.add_argument("--no-verify", action="store_true", help="skip running the artefacts against their references")
    e.add_argument("--verify-examples", type=int, default=16, metavar="N",
                   help="export: also verify every artefact on the first N test examples through the run's encoder "
                        "(seeded --seed) when the test data loads; 0: the random raster only (default 16)")
    e.add_argument("--force", action="store_true",
                   help="export or sweep into an --out folder that holds an earlier export or sweep (replaced)")
    e.add_argument("--dt", help="a .nir graph's time step in seconds (NIR's time unit; the graph cannot say it, so a .nir "
                   "export requires it: no default)")
    e.add_argument("--reset", help="a .nir graph's reset: zero (NIR's v <- v_reset) or subtract (snnTorch's default); a .nir "
                   "export requires it, since many tools write subtract-reset neurons as NIR's v_reset = 0: no "
                   "default")
    e.add_argument("--no-accuracy", action="store_true", help="export: leave the test-split accuracy out of the report")
    e.add_argument("--no-progress", action="store_true", help="sweep: no progress bar")
    e.add_argument("--checkpoint", choices=["last", "best"], default="last",
                   help="a run's weights: after its last epoch (checkpoint.pt, the default) or at the epoch with the "
                        "best validation accuracy (best.pt)")
    e.add_argument("--data-dir", help="test split: dataset folder (else the run's, else $SPIKEFA_DATA)")
    e.add_argument("--limit", type=int, default=None, help="test split: use the first N test examples (default: all)")
    e.add_argument("--batch-size", type=int, default=256, help="test split: batch size")
    e.add_argument("--seed", type=int, default=0, help="test split: seed of the rate encoder's generator")
    e.set_defaults(func=cmd_export)
    return e
