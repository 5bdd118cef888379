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
