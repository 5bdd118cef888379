"""``spikefa ...``: argument parsing only; every subcommand calls the library.

User errors (unknown rule, bad value, missing file) print one line and exit with code 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

from spikefa._args import comma_items, positive_ints, rule_options
from spikefa.errors import SpikefaError

Handler = Callable[[argparse.Namespace], int]


class _HelpFormatter(argparse.HelpFormatter):
    """Appends "(default: X)" to an option's help unless it states its default itself or has none
    worth stating (None, False); list defaults are written as the comma list the option takes."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        unstated = any(default is v for v in (None, False, argparse.SUPPRESS))
        if not action.option_strings or "default" in text or unstated:
            return text
        shown = ",".join(map(str, default)) if isinstance(default, list) else str(default)
        return f"{text} (default: {shown.replace('%', '%%')})"


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    def error(self, message: str) -> None:  # one line, exit 2 (argparse prints usage + error)
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _seeds(text: str) -> list[int]:
    """``3`` -> [0, 1, 2]; ``0,4,7`` -> [0, 4, 7]."""
    try:
        if "," in text:
            return [int(s) for s in comma_items("--seeds", text)]
        n = int(text)
    except ValueError:  # SpikefaError (an empty item) is a ValueError too
        raise argparse.ArgumentTypeError(f"--seeds {text!r} is not a count or a list of ints") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"--seeds {text!r} must be >= 1")
    return list(range(n))


def _positive(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be >= 1")
    return v


CARD = "default: the model card's preset for the rule, else its [defaults]"
FROM_CARD = ("Epochs, learning rate, batch size, optimiser, schedule and weight decay come from the model "
             "card (its [presets.<rule>], else its [defaults]; `spikefa list models` shows each card's default "
             "rule and presets) unless given here; what a run used is stored in its config.json.")


def _train_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", metavar="DIR",
                   help="folder with the dataset files, or a root holding <dataset>/ (default: $SPIKEFA_DATA, else "
                        "~/.cache/spikefa/<dataset>); `spikefa data download NAME` fetches them")
    p.add_argument("--epochs", type=_positive, metavar="N", help=f"passes over the training split ({CARD})")
    p.add_argument("--batch-size", type=_positive, metavar="N", help=f"examples per step ({CARD})")
    p.add_argument("--lr", type=float, help=f"learning rate ({CARD})")
    p.add_argument("--optimizer", choices=["adam", "sgd"], help=f"optimiser ({CARD})")
    p.add_argument("--schedule", choices=["constant", "cosine"],
                   help=f"learning-rate schedule over the epochs ({CARD})")
    p.add_argument("--weight-decay", type=float, metavar="WD", help=f"L2 weight decay ({CARD})")
    p.add_argument("--limit-train", type=_positive, metavar="N",
                   help="use only the first N training examples (default: all)")
    p.add_argument("--limit-eval", type=_positive, metavar="N",
                   help="score on only the first N validation and N test examples (smoke runs; default: all)")
    p.add_argument("--val-size", type=_positive, metavar="N",
                   help="hold out N training examples for validation (default: the dataset's own, e.g. the last "
                        "10,000 MNIST training images)")
    p.add_argument("--align-every", type=int, metavar="N",
                   help="log alignment angles with backprop every N steps, 0: off (default: 100)")
    p.add_argument("--device", help="cpu, cuda or auto (default: cpu; with --resume: the device the run was on)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _freeze(text: str) -> tuple[float, float | None]:
    """``--qat-freeze F`` or ``F0:F1`` (the oscillation threshold, constant or a cosine from F0 to F1)."""
    first, _, last = text.partition(":")
    try:
        return float(first), (float(last) if last else None)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not F or F0:F1 (oscillation frequencies, e.g. 0.1:0.01)") from None


def _overrides(a: argparse.Namespace) -> dict[str, object]:
    freeze = getattr(a, "qat_freeze", None) or (None, None)
    return {"data_dir": a.data_dir, "epochs": a.epochs, "batch_size": a.batch_size, "lr": a.lr,
            "optimizer": a.optimizer, "schedule": a.schedule, "weight_decay": a.weight_decay,
            "limit_train": a.limit_train, "limit_eval": getattr(a, "limit_eval", None),
            "val_size": getattr(a, "val_size", None), "align_every": a.align_every, "device": a.device,
            "qat": getattr(a, "qat", None), "state_bits": getattr(a, "state_bits", None),
            "qat_freeze": freeze[0], "qat_freeze_final": freeze[1],
            "checkpoint_every": getattr(a, "checkpoint_every", None), "init_from": getattr(a, "init_from", None),
            "distill": getattr(a, "distill", None), "distill_temperature": getattr(a, "distill_temperature", None),
            "distill_from": getattr(a, "distill_from", None)}


def _qat_for(config: Any) -> Any:
    """The QAT transform a config asks for (the CLI wires the exporters' QAT into training)."""
    from spikefa.export.qat import qat_transform_for

    return qat_transform_for(config)


def cmd_train(a: argparse.Namespace) -> int:
    from spikefa.train import resolve_config, resume, train

    if a.resume:
        # a resumed run keeps the settings it started with: every setting but --epochs is refused
        # (and --device: a run started on a GPU can continue on a CPU, or the other way round)
        settings = ["model", "rule", "feedback", "dataset", "seed", "out", "opt", *_overrides(a)]
        given = [f"--{k.replace('_', '-')}" for k in settings
                 if k not in ("epochs", "device") and getattr(a, k, None) is not None]
        if given:
            raise SpikefaError(f"--resume {a.resume} continues that run with the settings in its config.json; "
                               f"it takes only --epochs, --device and --no-progress (drop {', '.join(given)})")
        once = int(os.environ.get("RANK", "0")) == 0  # under torchrun, rank 0 says where the run continues
        summary = resume(a.resume, epochs=a.epochs, device=a.device, progress=not a.no_progress,
                         transform_for=_qat_for, announce=(lambda text: print(text, flush=True)) if once else None)
        out = a.resume
        if summary.get("complete"):
            print(f"{out}: the run is complete ({summary['epochs']} epochs); nothing to do, nothing changed "
                  "(give --epochs N to train it further)")
            return 0
    else:
        missing = [f"--{k}" for k in ("model", "dataset", "out") if getattr(a, k) is None]
        if missing:
            raise SpikefaError(f"spikefa train needs {', '.join(missing)} (or --resume RUN_DIR)")
        ov = _overrides(a)
        if a.rule is None:  # the card's default rule, as `spikefa list models` shows it
            from spikefa.catalog import load_card

            a.rule = load_card(a.model).default_rule
        config = resolve_config(a.model, a.rule, a.dataset, feedback=a.feedback, seed=a.seed or 0,
                                rule_options=rule_options(a.opt), **ov)
        summary = train(config, a.out, progress=not a.no_progress, transform=_qat_for(config))
        out = a.out
    if summary["diverged"]:
        print(f"spikefa: stopped: {summary['diverged']} -> {out}", file=sys.stderr)
        return 1
    if summary.get("ended_early"):
        print(f"spikefa: note: {summary['ended_early']}", file=sys.stderr)
    print(f"test accuracy {100 * summary['test_accuracy']:.2f} %  val {100 * summary['val_accuracy']:.2f} %  "
          f"({summary['epochs']} epoch{'' if summary['epochs'] == 1 else 's'}, {summary['seconds']:.1f} s) -> {out}")
    return 0


def cmd_compare(a: argparse.Namespace) -> int:
    from spikefa.train.compare import protocol_text, run_grid, write_report

    variants = comma_items("--rules", a.rules)
    summaries = run_grid(a.model, variants, a.dataset, a.seeds, a.out, progress=not a.no_progress,
                         transform_for=_qat_for, announce=lambda text: print(text, flush=True), **_overrides(a))
    title = f"{a.model} on {a.dataset}: " + ", ".join(variants)
    print(write_report(summaries, a.out, title, protocol_text(summaries, a.out)))
    print(f"-> {Path(a.out) / 'table.md'}, {Path(a.out) / 'curves.png'}")
    return 0


def cmd_demo(a: argparse.Namespace) -> int:
    from spikefa.train.demo import run_demo

    print(run_demo(a.out, epochs=a.epochs, seeds=a.seeds, progress=not a.no_progress, limit_train=a.limit_train))
    return 0


def cmd_reproduce(a: argparse.Namespace) -> int:
    from spikefa.experiments.fa_hebbian import EXPERIMENTS, Settings, reproduce

    only = comma_items("--only", a.only) if a.only else None
    for key in only or []:
        if key not in EXPERIMENTS:
            raise SpikefaError(f"--only {key!r} is not an experiment: use some of {', '.join(EXPERIMENTS)}")
    epochs, seeds, limit, limit_eval = a.epochs, a.seeds, a.limit_train, None
    if a.fast:  # the smoke-sized protocol: slices of the data, one seed, few epochs
        epochs, seeds, limit, limit_eval = epochs or 2, seeds or [0], limit or 2000, 2000
    datasets = [(a.dataset, a.data_dir)] + ([("cifar10", a.cifar_dir)] if a.cifar_dir else [])
    for name, data_dir in datasets:
        settings = Settings(name, data_dir, epochs, tuple(seeds or [0, 1, 2]), a.device, limit, limit_eval)
        variants = comma_items("--variants", a.variants) if a.variants else None
        reproduce(a.out, settings, only, workers=a.workers, progress=not a.no_progress, variants=variants)
        print(f"{name}: -> {Path(a.out) / name / 'report.md'}")
    return 0


def cmd_bench_rules(a: argparse.Namespace) -> int:
    from spikefa.train.bench import bench_rules, write_bench

    shape = tuple(int(s) for s in a.input_shape.split("x"))
    if len(shape) != 3:
        raise SpikefaError(f"--input-shape {a.input_shape!r} must be CxHxW, e.g. 1x28x28")
    result = bench_rules(a.model, comma_items("--rules", a.rules), a.batch_size, shape,  # type: ignore[arg-type]
                         a.classes, rounds=a.rounds, steps=a.steps, device=a.device)
    print(write_bench(result, a.out))
    return 0


def _ints_for(flag: str) -> Callable[[str], list[int]]:
    """An argparse ``type`` for ``flag``: a comma list of integers >= 1 (``positive_ints``), its error
    turned into argparse's so the parser prints it in one line with exit 2."""
    def parse(text: str) -> list[int]:
        try:
            return positive_ints(flag, text)
        except SpikefaError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
    return parse


def cmd_bench_spiking(a: argparse.Namespace) -> int:
    from spikefa.train.bench_spiking import bench_spiking, write_bench_spiking

    result = bench_spiking(a.model, a.batch_size, a.time_steps, a.timed_steps, a.rounds, a.steps, a.device,
                           error_every=a.error_every)
    print(write_bench_spiking(result, a.out))
    return 0


def cmd_bench_peers(a: argparse.Namespace) -> int:
    from spikefa.train.bench_peers import bench_peers, write_bench_peers

    result = bench_peers(comma_items("--only", a.only), a.rounds, a.batch_size, a.dc_sizes, a.images,
                         a.data_dir, stdp_rounds=a.stdp_rounds)
    print(write_bench_peers(result, a.out))
    return 0


def cmd_data_download(a: argparse.Namespace) -> int:
    from spikefa.data import download_dataset

    mirrors = [a.mirror] if a.mirror else None
    path = download_dataset(a.name, a.data_dir, mirrors=mirrors, progress=not a.no_progress)
    print(f"{a.name} -> {path}")
    return 0


def _card_line(name: str) -> str:
    """The card's architecture and description, then the rules it takes: its default rule, the rules
    it has a preset for (each with the options its preset sets), and the other registered rules that train its kind of network (with the
    card's [defaults])."""
    from spikefa.catalog import load_card
    from spikefa.errors import SpikefaError
    from spikefa.nn.build import build
    from spikefa.rules import RULES
    from spikefa.rules.registry import check_layers, check_takes

    card = load_card(name)

    def with_preset(rule: str, default: bool = False) -> str:  # the options the card's preset sets for the rule
        options = card.preset(rule).options if rule in card.presets else {}
        told = ["default"] if default else []
        told += [f"{k}={v}" for k, v in options.items()]
        return f"{rule} ({'; '.join(told)})" if told else rule

    rules = [with_preset(card.default_rule, True), *(with_preset(r) for r in card.presets if r != card.default_rule)]
    net = build(card, (1, 8, 8), 10)  # the checks below read it, never change it
    others = []
    for rule in (r for n, r in RULES.items() if n != card.default_rule and n not in card.presets):
        try:  # the checks convert makes: the network's kind and its layers
            check_takes(rule, net)
            check_layers(rule, net)
            others.append(rule.name)
        except SpikefaError:
            continue
    tail = f"; also, with the card's [defaults]: {', '.join(others)}" if others else ""
    return f"[{card.arch}] {card.description}\n{'':22s}   rules: {', '.join(rules)}{tail}"


def _option_line(key: str, option: object) -> str:
    """``--opt key=a|b|c: what it does; default a``: the CLI syntax with the choices, the help, the default."""
    allowed, default = getattr(option, "allowed"), getattr(option, "default")
    if isinstance(allowed, tuple):
        values = "|".join(str(v).lower() if isinstance(v, bool) else str(v) for v in allowed)
    elif allowed is bool:
        values = "true|false"
    else:
        values = allowed.__name__.upper()
    shown = str(default).lower() if isinstance(default, bool) else str(default)
    return f"--opt {key}={values}: {getattr(option, 'help')}; default {shown}"


def cmd_list(a: argparse.Namespace) -> int:
    from spikefa.catalog import list_cards
    from spikefa.data import DATASETS
    from spikefa.export.profile import list_profiles, load_profile
    from spikefa.rules import FEEDBACK_KINDS, RULES

    tables = {
        "rules": {n: f"{r.summary} ({r.reference})" + "".join(
            f"\n{'':22s}   {_option_line(k, o)}" for k, o in r.options.items()) for n, r in RULES.items()},
        "feedback": {n: k.description for n, k in FEEDBACK_KINDS.items()},
        "models": {n: _card_line(n) for n in list_cards()},
        "datasets": {n: f"[{d.kind}] {d.description}" for n, d in DATASETS.items()},
    }
    if a.what == "targets":  # read only when asked: each profile file is parsed and validated
        tables["targets"] = {n: load_profile(n).description for n in list_profiles()}
    for name, text in tables[a.what].items():
        print(f"{name:22s} {text}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from spikefa._version import __version__

    p = _Parser(prog="spikefa", description="Biologically plausible learning rules for rate-coded and spiking networks.")
    p.add_argument("--version", action="version", version=f"spikefa {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    t = sub.add_parser("train", help="train one network with one rule into a run directory",
                       description="Train one network (a model card) with one learning rule on one dataset into a "
                                   "run directory; resume it after a crash with --resume. " + FROM_CARD)
    t.add_argument("--model", help="model card name or path (spikefa list models)")
    t.add_argument("--rule", help="learning rule (spikefa list rules; default: the card's default rule, which "
                                  "`spikefa list models` shows)")
    t.add_argument("--feedback",
                   help="feedback kind for fa/dfa (spikefa list feedback; default: random; sign and bp take none)")
    t.add_argument("--dataset", help="dataset name (spikefa list datasets)")
    t.add_argument("--seed", type=int,
                   help="seed of the weights, feedback matrices, data order and spike encoders: the same seed "
                        "gives the same run (default: 0)")
    t.add_argument("--qat", metavar="PROFILE[:BITS]",
                   help="spiking cards: train through a hardware profile's fake quantization (e.g. int8-edge:4)")
    t.add_argument("--state-bits", type=_positive, metavar="B",
                   help="with --qat: train with a B-bit membrane on the weights' grid (MINT; default: the profile's "
                        "state width); stored in the run, so resume and export use it")
    t.add_argument("--qat-freeze", type=_freeze, metavar="F[:F_END]",
                   help="with --qat: freeze each weight whose integer value oscillates more often than F per step "
                        "(Nagel et al. 2022; F_END: the threshold falls along a cosine to it, e.g. 0.1:0.01)")
    t.add_argument("--init-from", metavar="RUN_DIR",
                   help="start from a finished run's trained weights instead of the seed's (fine-tuning; "
                        "QAT after float training: --qat PROFILE --init-from FLOAT_RUN; more QAT from a QAT run "
                        "of the same --qat and --state-bits); the same network")
    t.add_argument("--distill", type=float, metavar="ALPHA",
                   help="weight α in [0, 1] of a distillation term from a float teacher: --init-from's network "
                        "without QAT, or --distill-from's (the teacher sees the student's spikes; default 0: none)")
    t.add_argument("--distill-from", metavar="RUN_DIR",
                   help="with --distill: the teacher, a finished float run of the same network (e.g. the float run "
                        "a QAT run continued by --init-from started from)")
    t.add_argument("--distill-temperature", type=float, metavar="TAU",
                   help="with --distill: temperature τ of the softened class scores (default 1)")
    t.add_argument("--out", metavar="RUN_DIR", help="run directory to create")
    t.add_argument("--resume", metavar="RUN_DIR",
                   help="continue a run from its last checkpoint (with --epochs N: train on to N epochs; with "
                        "--device: on another device, e.g. a GPU run on a CPU); a finished run is left as it is")
    t.add_argument("--opt", action="append", metavar="KEY=VALUE",
                   help="a rule option, e.g. --opt beta=0.01 (repeatable; spikefa list rules shows them)")
    t.add_argument("--checkpoint-every", type=int, metavar="STEPS",
                   help="also checkpoint every STEPS batches inside an epoch (long STDP epochs; default: after "
                        "each epoch only)")
    _train_options(t)
    t.set_defaults(func=cmd_train)

    c = sub.add_parser("compare", help="a grid of rules × seeds: Markdown table and learning-curve PNG",
                       description="Train every rule with every seed (one run directory each) and write "
                                   "table.md, results.json and curves.png. " + FROM_CARD)
    c.add_argument("--model", required=True, help="model card name or path (spikefa list models)")
    c.add_argument("--rules", default="bp,fa,dfa,sign",
                   help="comma list; rule:feedback picks a kind (fa:binary), +key=value an option (sum+beta=0.001)")
    c.add_argument("--dataset", default="digits", help="dataset name (spikefa list datasets)")
    c.add_argument("--seeds", type=_seeds, default=[0, 1, 2], help="a count (3) or a list (0,4,7)")
    c.add_argument("--out", required=True, metavar="DIR", help="folder for the runs, table and plot")
    _train_options(c)
    c.set_defaults(func=cmd_compare)

    d = sub.add_parser("demo", help="the main job: every rule on the embedded digits data (about a minute)")
    d.add_argument("--out", default="runs/demo", metavar="DIR", help="folder for the runs, table and figures")
    d.add_argument("--epochs", type=_positive, default=15, metavar="N", help="epochs per run")
    d.add_argument("--seeds", type=_seeds, default=[0, 1, 2], help="a count (3) or a list (0,4,7)")
    d.add_argument("--limit-train", type=_positive, default=None, metavar="N",
                   help="train each run on the first N training examples only, a quicker look (default: all)")
    d.add_argument("--no-progress", action="store_true", help="no progress bar")
    d.set_defaults(func=cmd_demo)

    rp = sub.add_parser("reproduce", help="regenerate a published comparison as tables and plots")
    rp.add_argument("experiment", choices=["fa-hebbian"], help="which comparison")
    rp.add_argument("--dataset", default="mnist", help="dataset name (spikefa list datasets)")
    rp.add_argument("--data-dir", metavar="DIR",
                    help="folder with the dataset's files (default: $SPIKEFA_DATA, else the user cache)")
    rp.add_argument("--cifar-dir", metavar="DIR", help="also run on CIFAR-10 from this binary-batch folder")
    rp.add_argument("--epochs", type=_positive, metavar="N",
                    help="epochs per run (default: each experiment's own; 2 with --fast)")
    rp.add_argument("--seeds", type=_seeds, help="a count (3) or a list (0,4,7) (default: 3 seeds; 1 with --fast)")
    rp.add_argument("--limit-train", type=_positive, metavar="N",
                    help="use only the first N training examples (default: all; 2,000 with --fast)")
    rp.add_argument("--fast", action="store_true", help="2 epochs, 1 seed, 2,000 training and 2,000 val/test images (a smoke run)")
    rp.add_argument("--only", help="comma list of experiment keys (default: all)")
    rp.add_argument("--variants", help="comma list of variants: keep only these rows (e.g. to give them more seeds)")
    rp.add_argument("--workers", type=_positive, default=1, help="runs trained in parallel processes")
    rp.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    rp.add_argument("--out", default="runs/fa-hebbian", metavar="DIR", help="folder for the runs and reports")
    rp.add_argument("--no-progress", action="store_true", help="no progress bar")
    rp.set_defaults(func=cmd_reproduce)

    b = sub.add_parser("bench", help="benchmarks").add_subparsers(dest="bench", required=True, parser_class=_Parser)
    br = b.add_parser("rules", help="step time and memory of each rule vs backprop, one run")
    br.add_argument("--model", default="mlp-2x800-tanh", help="model card name or path")
    br.add_argument("--rules", default="bp,fa,sign,dfa", help="comma list of rules (rule:feedback picks a kind)")
    br.add_argument("--batch-size", type=_positive, default=128, metavar="N", help="examples per step")
    br.add_argument("--input-shape", default="1x28x28", metavar="CxHxW", help="shape of one (random) input")
    br.add_argument("--classes", type=_positive, default=10, metavar="N", help="number of output classes")
    br.add_argument("--rounds", type=_positive, default=7, metavar="N", help="timing rounds (the median is kept)")
    br.add_argument("--steps", type=_positive, default=30, metavar="N", help="training steps per round")
    br.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    br.add_argument("--out", default="runs/bench", metavar="DIR", help="folder for the table and JSON")
    br.set_defaults(func=cmd_bench_rules)
    bs = b.add_parser("spiking", help="online DFA vs surrogate-gradient BPTT: step time and peak memory vs T")
    bs.add_argument("--model", default="snn-1x800-lif", help="spiking model card name or path")
    bs.add_argument("--batch-size", type=_positive, default=128, metavar="N", help="examples per step")
    bs.add_argument("--time-steps", type=_ints_for("--time-steps"), default=[10, 25, 50, 100], help="T values for the memory table")
    bs.add_argument("--timed-steps", type=_positive, default=25, help="T at which time per step is compared")
    bs.add_argument("--error-every", type=_ints_for("--error-every"), default=[1, 5],
                    help="online DFA broadcast periods k to time (comma-separated)")
    bs.add_argument("--rounds", type=_positive, default=5, metavar="N", help="timing rounds (the median is kept)")
    bs.add_argument("--steps", type=_positive, default=3, metavar="N", help="training steps per round")
    bs.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    bs.add_argument("--out", default="runs/bench-spiking", metavar="DIR", help="folder for the table and JSON")
    bs.set_defaults(func=cmd_bench_spiking)
    bp = b.add_parser("peers", help="spikefa vs BioTorch, BindsNET, Brian2 and snnTorch BPTT in one process")
    bp.add_argument("--only", default="fa,dc,stdp,spiking", help="comma list of: fa, dc, stdp, spiking")
    bp.add_argument("--rounds", type=_positive, default=5, metavar="N", help="timing rounds (the median is kept)")
    bp.add_argument("--batch-size", type=_positive, default=128, metavar="N", help="examples per step (fa, spiking)")
    bp.add_argument("--dc-sizes", type=_ints_for("--dc-sizes"), default=[100, 400], help="Diehl & Cook excitatory neurons")
    bp.add_argument("--images", type=_positive, default=8, metavar="N", help="Diehl & Cook images, cycled")
    bp.add_argument("--data-dir", metavar="DIR", help="MNIST folder for the Diehl & Cook images (default: "
                    "scikit-learn's digits scaled to 28x28)")
    bp.add_argument("--stdp-rounds", type=_positive, default=3, metavar="N", help="timing rounds of the STDP layer")
    bp.add_argument("--out", default="runs/bench-peers", metavar="DIR", help="folder for the table, JSON and plot")
    bp.set_defaults(func=cmd_bench_peers)

    dd = sub.add_parser("data", help="datasets").add_subparsers(dest="data", required=True, parser_class=_Parser)
    dl = dd.add_parser("download", help="fetch a dataset from its canonical mirrors, checksum-verified")
    dl.add_argument("name", help="dataset name: mnist, fashion-mnist or cifar10")
    dl.add_argument("--data-dir", metavar="DIR", help="destination root: the files go to DIR/<name>/ (default: "
                    "$SPIKEFA_DATA, else ~/.cache/spikefa); give the same DIR to `spikefa train --data-dir`")
    dl.add_argument("--mirror", metavar="URL", help="try this base URL instead of the canonical mirrors")
    dl.add_argument("--no-progress", action="store_true", help="no progress bar")
    dl.set_defaults(func=cmd_data_download)

    ls = sub.add_parser("list", help="list rules, feedback kinds, model cards, datasets or export targets")
    ls.add_argument("what", choices=["rules", "feedback", "models", "datasets", "targets"],
                    help="rules (with their --opt options), feedback kinds, model cards (default rule, presets), "
                         "datasets, or the hardware profiles `spikefa export --target` takes")
    ls.set_defaults(func=cmd_list)
    from spikefa.crosscheck.cli import add_parser as add_crosscheck_parser
    from spikefa.export.cli import add_parser as add_export_parser

    add_export_parser(sub)
    add_crosscheck_parser(sub)
    return p


def _check_out(args: argparse.Namespace) -> None:
    """An ``--out`` whose path runs through an existing file is refused up front, in one line (the
    folder would otherwise fail to be made deep inside the command, with a traceback)."""
    out = getattr(args, "out", None)
    if out is None:
        return
    for q in (Path(out), *Path(out).parents):
        if q.exists():
            if not q.is_dir():
                raise SpikefaError(f"--out {out}: {q} is a file, not a folder")
            return


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        _check_out(args)
        return int(args.func(args))
    except SpikefaError as exc:
        print(f"spikefa: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # outside a training loop (which says what it kept, as a SpikefaError)
        print("\nspikefa: interrupted", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
