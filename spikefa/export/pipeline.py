"""``spikefa export``: check → quantise → write every artefact the profile lists → hold each
against its reference on test spikes (a seeded random raster and, given one, a real batch of the
run's encoded test examples) → ``export.json`` and ``report.md`` beside the artefacts."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from spikefa.errors import SpikefaError
from spikefa.export.check import ExportRefused, check
from spikefa.export.profile import Profile
from spikefa.export.quantize import QuantizedNet, quantize, report_table
from spikefa.export.simulate import run_int
from spikefa.export.sweep import Comparison, compare
from spikefa.export.writers import EXPORTERS


RANDOM_RASTER = {"time_steps": 8, "batch": 4, "rate": 0.2, "seed": 0}  # `verification_spikes`' defaults


def verification_spikes(in_features: int, time_steps: int = 8, batch: int = 4, rate: float = 0.2,
                        seed: int = 0) -> torch.Tensor:
    """Bernoulli(rate) test spikes [T, B, in_features] from a seeded generator."""
    gen = torch.Generator().manual_seed(seed)
    return (torch.rand(time_steps, batch, in_features, generator=gen) < rate).to(torch.float32)


def real_batch(x: torch.Tensor, encoder: Any, examples: int = 16, seed: int = 0) -> torch.Tensor:
    """The first `examples` inputs of `x` [N, ...] (e.g. the run's test images, in [0, 1]) encoded
    by `encoder` (the run's card's, `spikefa.functional.encoders.encoder_of`) with a generator
    seeded `seed`: binary spikes [T, B, ...], B = min(examples, N). Raises `SpikefaError` for
    `examples` < 1 or an encoder whose output is not 0/1 (the chips take spikes)."""
    if examples < 1:
        raise SpikefaError(f"the real verification batch needs examples >= 1, got {examples}")
    spikes = encoder(x[:examples], torch.Generator().manual_seed(seed)).to(torch.float32)
    if spikes.numel() and not bool(((spikes == 0) | (spikes == 1)).all()):
        raise SpikefaError(f"the run's encoder {type(encoder).__name__} gives values other than 0/1; the exporters' "
                           "verification runs on binary spikes")
    return spikes


def _verify(qnet: QuantizedNet, out: Path, formats: Sequence[str], x: torch.Tensor,
            source: str) -> list[dict[str, Any]]:
    """Each format's `Verification` on spikes x [T, B, ...], as dicts with the input named (`source`)."""
    return [{**EXPORTERS[f].verify(qnet, out, x).as_dict(), "input": source} for f in formats]


def _formats(profile: Profile, formats: Sequence[str] | None) -> list[str]:
    chosen = list(profile.formats if formats is None else formats)
    unknown = [f for f in chosen if f not in EXPORTERS]
    if unknown:
        raise SpikefaError(f"format {unknown[0]!r} is unknown; expected some of: {', '.join(EXPORTERS)}")
    return chosen


def write_artefacts(qnet: QuantizedNet, out_dir: Path, formats: Sequence[str],
                    meta: dict[str, Any] | None = None) -> dict[str, list[str]]:
    """Write each format's files; returns format -> file names."""
    return {f: [p.name for p in EXPORTERS[f].write(qnet, out_dir, meta or {})] for f in formats}


def neuron_problems(net: nn.Module) -> list[str]:
    """What the exporters' reading of a layer's neuron (`LIFParams`: β and θ one per layer or one per
    neuron, one α) cannot hold, by layer: a per-neuron α (a NIR graph's per-neuron τ_syn,
    `spikefa.export.nir_import`) and a non-spiking read-out (θ = ∞, NIR's LI). Checked before
    `check`, which reads `LIFParams`."""
    problems = []
    for i, neuron in enumerate(getattr(net, "neurons", ())):
        alpha = getattr(neuron, "alpha", None) if type(neuron).__name__ == "Synaptic" else None
        if isinstance(alpha, torch.Tensor) and alpha.numel() > 1:
            problems.append(f"layer {i}: per-neuron α ({alpha.numel()} values, {float(alpha.min()):.4g} to "
                            f"{float(alpha.max()):.4g}) is not exported; spikefa's exporters take one α per layer "
                            "(β and θ may be per neuron)")
        theta = getattr(neuron, "threshold", None)
        if theta is not None and torch.as_tensor(theta).numel() == 1 and math.isinf(float(theta)):
            problems.append(f"layer {i}: a non-spiking read-out (θ = inf, NIR's LI) is not exported; the chips "
                            "report spikes: end the network with a spiking layer")
    return problems


def export(net: nn.Module, profile: Profile, out_dir: str | Path, *, bits: int | None = None,
           formats: Sequence[str] | None = None, meta: dict[str, Any] | None = None,
           spikes: torch.Tensor | None = None, verify: bool = True, batches: Any = None,
           batches_note: str | None = None, state_bits: int | None = None, real_spikes: torch.Tensor | None = None,
           real_source: str | None = None, real_note: str | None = None) -> dict[str, Any]:
    """Export `net` to `profile` in `out_dir`; raises `ExportRefused` listing every violation.

    Weights get `bits` bits and the membrane `state_bits` bits (default: the profile's; fewer share
    the weights' scale as in MINT, Yin et al. 2023, `Profile.with_state_bits`). Returns the summary
    also written to ``export.json``: files per format, the per-layer quantisation report and, when
    `verify`, each artefact's comparison with its reference on `spikes` [T, B, in] (default:
    `verification_spikes`, a seeded random raster) and, given `real_spikes` [T, B, ...] (the run's
    first test examples through its encoder, `real_batch`; `real_source` says what they are), on
    those too: ``summary["verification"]`` and ``summary["verification_real"]`` (None without real
    spikes, ``summary["verification_inputs"]`` then says why: `real_note`). ``summary["ok"]`` is
    False when an artefact disagrees with its reference on either input; ``summary["verified"]``
    lists the formats that ran and agreed on every input, ``summary["unverified"]`` those whose
    check could not run (never counted as passed). With `formats` None (the profile's
    list), a format whose writer refuses the network (NIR has no max-pool node) is left out and
    ``summary["left_out"]`` says why; named `formats` are all written or the export is refused.
    With labelled `batches` ((spikes [T, B, ...], labels [B]) pairs, e.g. the run's test split,
    or a callable giving them), ``summary["deployment"]`` and ``report.md`` hold the float and the
    integer accuracy and the per-layer firing-rate EMD (`spikefa.export.sweep.compare`); without,
    ``report.md`` says why not (`batches_note`).
    """
    problems = neuron_problems(net) or check(net, profile, bits, state_bits=state_bits)
    if problems:
        raise ExportRefused(profile.name, problems)
    chosen = _formats(profile, formats)
    qnet = quantize(net, profile, bits, state_bits=state_bits)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files, left_out = _write(qnet, out, chosen, meta, strict=formats is not None)
    chosen = [f for f in chosen if f in files]
    checks: list[dict[str, Any]] = []
    real: list[dict[str, Any]] | None = None
    inputs = verification_inputs(qnet, spikes, real_spikes if verify else None, real_source,
                                 real_note if verify else "--no-verify")
    if verify:
        x = verification_spikes(qnet.in_features) if spikes is None else spikes
        checks = _verify(qnet, out, chosen, x, "random")
        rec = run_int(qnet, x)
        inputs["random"]["fired"] = sum(int(s.sum()) for s in rec.spikes)
        golden = {"spikes": x.to(torch.uint8), "out": rec.out.to(torch.uint8)}
        if real_spikes is not None:
            real = _verify(qnet, out, chosen, real_spikes, "real")
            rec = run_int(qnet, real_spikes)
            inputs["real"]["fired"] = sum(int(s.sum()) for s in rec.spikes)
            golden |= {"real_spikes": real_spikes.to(torch.uint8), "real_out": rec.out.to(torch.uint8)}
        torch.save(golden, out / "golden.pt")
    every = checks + (real or [])
    deployment = None if batches is None else compare(net, qnet, batches)
    warnings = export_warnings(qnet, inputs if verify else None, deployment)
    summary = {"profile": profile.name, "bits": qnet.bits, "state_bits": qnet.state_bits, "formats": chosen,
               "left_out": left_out, "files": files, "report": [r.as_dict() for r in qnet.report],
               "verification": checks, "verification_real": real, "verification_inputs": inputs,
               "ok": not any(c["failed"] for c in every),
               "verified": [f for f in chosen if every and all(c["ok"] for c in every if c["format"] == f)],
               "unverified": [f for f in chosen if any(c["skipped"] for c in every if c["format"] == f)],
               "meta": meta or {}, "deployment": None if deployment is None else deployment.as_dict(),
               "warnings": warnings}
    (out / "export.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    (out / "report.md").write_text(f"# {profile.name}, {qnet.bits}-bit weights, {qnet.state_bits}-bit state\n\n"
                                   + "".join(f"**Warning:** {w}\n\n" for w in warnings) +
                                   f"{deployment_section(deployment, batches_note, qat=(meta or {}).get('qat_profile'))}\n"
                                   f"{formats_section(chosen, left_out)}\n"
                                   f"{verification_section(checks, verify, real, inputs)}\n{report_table(qnet)}\n")
    return summary


def export_warnings(qnet: QuantizedNet, inputs: dict[str, Any] | None,
                    deployment: Comparison | None = None) -> list[str]:
    """What makes an export that ran technically fine useless, in words: a layer whose weights all
    round to 0 on the grid (nothing reaches its neurons), a layer that never fires in the integer
    network on the test examples, and a verification input on which the integer simulator fires no
    spike (its spike-for-spike check compares silence and proves nothing)."""
    out = []
    for i, rate in enumerate(deployment.rates_int if deployment is not None else ()):
        if rate == 0.0:
            out.append(f"layer {i} never fires in the integer network on the {deployment.samples} test examples "
                       f"(float: {deployment.rates_float[i]:.4f} spikes per step)")
    for i, q in enumerate(qnet.layers):
        if q.weight.numel() and not bool(q.weight.any()):
            out.append(f"layer {i}: every weight rounds to 0 on the {qnet.bits}-bit grid with a {qnet.state_bits}-bit "
                       "state, so nothing reaches its neurons; the grid is coarser than the trained weights (train "
                       "through it: spikefa train --qat PROFILE[:BITS] --state-bits B)")
    for name, what in (("random", "random raster"), ("real", "real batch")):
        described = (inputs or {}).get(name)
        if described and described.get("fired") == 0:
            out.append(f"the integer simulator fires no spike on the {what}: its spike-for-spike checks compare "
                       "silence and prove nothing about this network")
    return out


def verification_inputs(qnet: QuantizedNet, spikes: torch.Tensor | None, real_spikes: torch.Tensor | None,
                        real_source: str | None, real_note: str | None) -> dict[str, Any]:
    """What each verification ran on: ``random`` (the seeded raster, or the spikes given) and
    ``real`` (the real batch's shape [T, B, ...] and `real_source`), or ``real`` None and
    ``real_note`` saying why only the random raster was used. `export` adds to each input run
    ``fired``: the spikes the integer simulator fires on it, every layer (0: a vacuous check)."""
    if spikes is None:
        random = {**RANDOM_RASTER, "shape": [RANDOM_RASTER["time_steps"], RANDOM_RASTER["batch"], qnet.in_features],
                  "source": f"Bernoulli({RANDOM_RASTER['rate']}) random raster, seed {RANDOM_RASTER['seed']}"}
    else:
        random = {"shape": list(spikes.shape), "source": "the test spikes given to export(spikes=...)"}
    if real_spikes is None:
        return {"random": random, "real": None, "real_note": real_note or "no test data given"}
    return {"random": random, "real": {"shape": list(real_spikes.shape), "examples": int(real_spikes.shape[1]),
                                       "source": real_source or "the real spikes given to export(real_spikes=...)"},
            "real_note": None}


def _write(qnet: QuantizedNet, out: Path, chosen: Sequence[str], meta: dict[str, Any] | None,
           strict: bool) -> tuple[dict[str, list[str]], dict[str, str]]:
    """(format -> file names, format -> why it was left out). `strict` (the user named the formats):
    a writer's refusal refuses the export; otherwise that format is left out, unless every one is."""
    files: dict[str, list[str]] = {}
    left_out: dict[str, str] = {}
    for f in chosen:
        try:
            files.update(write_artefacts(qnet, out, [f], meta))
        except ExportRefused as refused:
            if strict:
                raise
            left_out[f] = "; ".join(refused.violations)
    if not files:
        raise ExportRefused(qnet.profile.name, [f"{f}: {why}" for f, why in left_out.items()])
    return files, left_out


def formats_section(written: Sequence[str], left_out: dict[str, str]) -> str:
    """The report's line on which formats were written and which the network left out, and why."""
    text = f"Formats written: {', '.join(written)}."
    for fmt, why in left_out.items():
        text += (f" Left out: {fmt}, which cannot represent this network: {why}. The other formats hold it; "
                 f"name --formats {fmt} to have the refusal instead.")
    return text + "\n"


TIES_EXPLAINED = ("A tie is a disagreement at a membrane exactly at its threshold: the chip fires on U > θ in "
                  "integers, while a float artefact holds U as integers times a real unit, so float rounding puts U "
                  "a hair above or below θ and it may fire where the chip does not (the spikes after it in that "
                  "sample follow the tie). Ties are counted apart and are not mismatches; a real mismatch is a "
                  "disagreement anywhere else.")


def verification_section(checks: Sequence[dict[str, Any]], verify: bool = True,
                         real: Sequence[dict[str, Any]] | None = None, inputs: dict[str, Any] | None = None) -> str:
    """The report's verification: per input (the random raster `checks`, the real batch `real`;
    `inputs` as `verification_inputs` describes them) and per artefact, real mismatches and tie
    disagreements with its reference (and, for a float artefact, against the integer simulator),
    with why ties happen; without a real batch, that only the random raster was used, and why."""
    if not verify:
        return "Verification: not run (--no-verify).\n"
    lines = ["Verification (each artefact run on test spikes against its reference, spike for spike):", ""]
    if inputs is not None:
        lines += [f"On the random raster ({_input(inputs['random'])}):", ""]
    lines += [_check_line(v) for v in checks]
    if inputs is not None and inputs.get("real") is not None:
        lines += ["", f"On a real batch ({_input(inputs['real'])}):", ""]
        lines += [_check_line(v) for v in real or ()]
    elif inputs is not None:
        lines += ["", f"Real batch: not run ({inputs.get('real_note') or 'no test data given'}); only the random "
                      "raster was used."]
    lines += ["", TIES_EXPLAINED]
    return "\n".join(lines) + "\n"


def _input(described: dict[str, Any]) -> str:
    fired = f"; the integer simulator fires {described['fired']} spikes on it" if "fired" in described else ""
    return f"{described['source']}, spikes [{', '.join(str(n) for n in described['shape'])}]{fired}"


def _check_line(v: dict[str, Any]) -> str:
    """One artefact's verification line of the report."""
    if v["skipped"]:
        return f"- {v['format']}: NOT VERIFIED ({v['note']}); the artefact is written but unchecked."
    state = "agrees" if v["ok"] else "DISAGREES"
    integer = v.get("integer")
    ties = f" and {v.get('ties', 0)} tie disagreements" if integer is not None or v.get("ties") else ""
    text = (f"- {v['format']}: {state} with the {v['reference']}: {v['mismatches']} real mismatches{ties} of "
            f"{v['total']} spikes")
    if integer is not None:
        text += (f"; against the integer simulator (the chip's arithmetic): {integer['ties']} tie disagreements "
                 f"and {integer['other']} others (integer decay rounding and saturation the float graph does "
                 "not hold)")
    return text + "."


def deployment_section(c: Comparison | None, note: str | None = None, qat: str | None = None) -> str:
    """The report's answer to "does it still work on the chip?": both accuracies, and per layer the
    mean firing rates and the EMD of the per-neuron rate distributions (spikes per step). `qat`: the
    profile a QAT run trained through (its float figure is then its weights without the fake
    quantisation, not the float network it may have started from)."""
    if c is None:
        return f"Accuracy: not measured ({note or 'no labelled data given'}).\n"
    lines = [f"Accuracy on {c.samples} test examples: float {100 * c.float_accuracy:.2f} %, integer (this export) "
             f"{100 * c.accuracy:.2f} % (a {'loss' if c.accuracy <= c.float_accuracy else 'gain'} of "
             f"{100 * abs(c.accuracy - c.float_accuracy):.2f} points; `export sweep`'s loss column is float − "
             "integer).", "",
             *([f"This run trained through {qat}'s fake quantisation: its float figure runs the same weights "
                "without it (and with the thresholds QAT placed), not the float network it started from; "
                "compare the integer figure with that run's test accuracy.", ""] if qat else []),
             "Firing rates per layer (spikes per neuron per step; EMD: Earth Mover's distance between the float "
             "and the integer per-neuron rate distributions):", "",
             "| layer | float rate | integer rate | rate EMD |", "|---|---|---|---|"]
    lines += [f"| {i} | {f:.4f} | {q:.4f} | {e:.4f} |" for i, (f, q, e) in
              enumerate(zip(c.rates_float, c.rates_int, c.rate_emd))]
    return "\n".join(lines) + "\n"


def existing_export(out_dir: str | Path) -> Path | None:
    """The ``export.json`` or ``report.md`` of an earlier export in `out_dir`, or None."""
    out = Path(out_dir)
    return next((p for p in (out / "export.json", out / "report.md") if p.is_file()), None)
