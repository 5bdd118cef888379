"""``spikefa crosscheck`` through its own parser: JSON records, PNGs, exit codes."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

pytest.importorskip("brian2")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # pyparsing 3.2 inside brian2 2.9

from spikefa.crosscheck import settings  # noqa: E402
from spikefa.crosscheck.cli import add_parser  # noqa: E402
from spikefa.errors import SpikefaError  # noqa: E402


def parse(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="spikefa")
    add_parser(p.add_subparsers(dest="command", required=True))
    return p.parse_args(["crosscheck", *argv])


def test_json_records_and_png(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    args = parse("--case", "lif/edges", "--case", "stdp/brian2/window", "--json", "--out", str(tmp_path))
    assert args.func(args) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    records = [json.loads(line) for line in lines]
    assert {r["name"] for r in records} == {"lif/edges", "stdp/brian2/window"}
    for r in records:
        assert {"name", "quantity", "max_abs", "tolerance", "pass"} <= set(r) and r["pass"] is True
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lif__edges.png", "stdp__brian2__window.png"]


def test_exit_1_when_a_tolerance_is_exceeded(capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(settings.REL_TOL, "float64", 0.0)  # round-off alone now exceeds it
    args = parse("--case", "stdp/brian2/poisson-10hz")
    assert args.func(args) == 1
    assert "FAIL" in capsys.readouterr().out


def test_list_and_unknown_case(capsys: pytest.CaptureFixture[str]) -> None:
    args = parse("--list")
    assert args.func(args) == 0
    assert "stdp/brian2/poisson-10hz" in capsys.readouterr().out
    args = parse("--case", "stdp/brian3/x")
    with pytest.raises(SpikefaError, match="stdp/brian3/x"):
        args.func(args)


def test_other_semantics_are_listed_apart_as_expected_differences(capsys: pytest.CaptureFixture[str]) -> None:
    args = parse("--case", "stdp/post-first/window", "--case", "stdp/brian2/window")
    assert args.func(args) == 0
    out = capsys.readouterr().out
    enforced, _, apart = out.partition("Not enforced, never a failure")
    assert "info" not in out and "brian2-mode model" not in enforced  # the table holds enforced checks only
    assert all(line.endswith(("pass", "FAIL")) for line in enforced.strip().splitlines()[1:])
    row = next(line for line in apart.splitlines() if line.startswith("stdp/post-first/window"))
    assert "differs, as expected (other semantics); a same-step pre/post pair depresses" in row
    assert "every enforced check within tolerance; 1 comparison with other semantics listed apart" in out


def test_json_states_the_verdict_of_informational_records(capsys: pytest.CaptureFixture[str]) -> None:
    args = parse("--case", "stdp/post-first/window", "--json")
    assert args.func(args) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    info = [r for r in records if not r["enforced"]]
    assert len(info) == 1 and info[0]["pass"] is None and info[0]["verdict"] == "differs, as expected (other semantics)"
    assert {r["verdict"] for r in records if r["enforced"]} == {"pass"}
