"""`spikefa bench peers` without its peers: missing peers are rows with their reason while
spikefa's side is still measured; the roofline arithmetic against torch's own FLOP counter; the
JSON document's schema; the import door that skips a package's __init__ (bindsnet's)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from spikefa import _optional
from spikefa._optional import MissingExtraError
from spikefa.cli import main
from spikefa.train import peer_timing
from spikefa.train.bench_peers import SCHEMA, bench_peers, write_bench_peers
from spikefa.train.peer_cases import bench_stdp, mlp_shapes
from spikefa.train.peer_timing import counted, interleave, matmul_flops, roofline

PEER_MODULES = {p.module for p in peer_timing.PEERS.values()}


@pytest.fixture
def no_peers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every peer missing, whatever this environment has installed."""
    def require(module: str) -> Any:
        if module in PEER_MODULES:
            raise MissingExtraError(f"{module} is not installed: install spikefa[peers] to use it")
        return _optional.require(module)
    monkeypatch.setattr(peer_timing, "require", require)


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    mp = pytest.MonkeyPatch()

    def require(module: str) -> Any:
        raise MissingExtraError(f"{module} is not installed: install spikefa[peers] to use it")
    mp.setattr(peer_timing, "require", require)
    try:
        res = bench_peers(["fa", "dc"], rounds=1, batch_size=4, dc_sizes=[8], images=2, dc_time_ms=20.0,
                          input_shape=(1, 8, 8))
    finally:
        mp.undo()
    out = tmp_path_factory.mktemp("peers")
    write_bench_peers(res, out)
    return res, out


def _rows(res: dict[str, Any], name: str) -> dict[str, dict[str, Any]]:
    section = next(s for s in res["benchmarks"] if s["name"] == name)
    return {r["label"]: r for r in section["rows"]}


def test_missing_peers_are_rows_with_reasons_and_spikefa_is_still_measured(result: tuple[dict[str, Any], Path]
                                                                           ) -> None:
    res, out = result
    fa, dc = _rows(res, "fa"), _rows(res, "dc")
    for label in ("biotorch fa", "biotorch usf", "biotorch dfa"):
        assert fa[label]["status"] == "missing" and "spikefa[peers]" in fa[label]["reason"]
        assert fa[label]["seconds"] is None
    assert dc["bindsnet 8"]["status"] == "missing" and "spikefa[peers]" in dc["bindsnet 8"]["reason"]
    for label in ("spikefa bp", "spikefa fa", "spikefa sign", "spikefa dfa"):
        assert fa[label]["status"] == "ok" and fa[label]["seconds"] > 0
    assert dc["spikefa jit 8"]["seconds"] > 0 and dc["spikefa torch 8"]["seconds"] > 0
    ratios = {(q["spikefa"], q["peer"]): q["ratio"] for s in res["benchmarks"] for q in s["ratios"]}
    assert ratios[("spikefa fa", "biotorch fa")] is None
    assert ratios[("spikefa fa", "spikefa bp")] == pytest.approx(fa["spikefa fa"]["seconds"] / fa["spikefa bp"]["seconds"])
    text = (out / "bench_peers.md").read_text()
    assert "missing: MissingExtraError" in text and "| spikefa dfa |" in text


def test_stdp_layer_without_brian2_still_times_spikefa(no_peers: None) -> None:
    sec = bench_stdp(rounds=1, n_in=12, n_out=5, time_ms=20.0, targets=("numpy",))
    rows = {r["label"]: r for r in sec["rows"]}
    assert rows["brian2 numpy"]["status"] == "missing" and rows["spikefa torch"]["status"] == "ok"
    assert rows["spikefa torch"]["flops"] == 2 * (2 * 5 * 1 * 12) * 20  # two outer products per 1 ms step
    if "spikefa jit" in rows:  # numba installed: the compiled loop's weights equal the step function's
        assert rows["spikefa jit"]["status"] == "ok"
        assert any(n.endswith("max weight difference 0") for n in sec["notes"])


def test_mlp_shapes_count_what_torch_counts_for_a_backprop_step() -> None:
    """The dense-equivalent FLOPs of a training step against torch's own FLOP counter."""
    dims, batch = [6, 5, 4, 3], 7
    layers = [torch.nn.Linear(i, o) for i, o in zip(dims[:-1], dims[1:], strict=True)]
    model = torch.nn.Sequential(layers[0], torch.nn.Tanh(), layers[1], torch.nn.Tanh(), layers[2])
    x, y = torch.randn(batch, dims[0]), torch.randint(0, dims[-1], (batch,))
    with FlopCounterMode(display=False) as counter:
        F.cross_entropy(model(x), y).backward()
    assert matmul_flops(mlp_shapes(dims, batch, "layer")) == counter.get_total_flops()
    direct = mlp_shapes(dims, batch, "direct")  # DFA: the output error to each hidden layer instead
    assert matmul_flops(direct) == counter.get_total_flops() - 2 * batch * (4 * 5 + 3 * 4) + 2 * batch * 3 * (5 + 4)


def test_roofline_and_interleaved_rounds() -> None:
    assert counted([(1, 2, 3), (4, 5, 6), (1, 2, 3)]) == [[1, 2, 3, 2], [4, 5, 6, 1]]
    r = roofline(3e9, 2.0, 3e9, 0.5)
    assert r == {"gflops": 1.5, "dense_gflops": 6.0, "fraction": 0.25}
    calls: list[str] = []

    def broken() -> None:
        calls.append("c")
        raise RuntimeError("no such kernel\nsecond line")
    times, failed = interleave({"a": lambda: calls.append("a"), "b": lambda: calls.append("b"), "c": broken}, 3)
    assert calls == ["a", "b", "c"] + ["a", "b"] * 3  # round 0 warms up; a failure leaves the rounds
    assert len(times["a"]) == len(times["b"]) == 3 and times["c"] == []
    assert failed == {"c": "RuntimeError: no such kernel"}


def test_json_document_schema(result: tuple[dict[str, Any], Path]) -> None:
    res, out = result
    doc = json.loads((out / "bench_peers.json").read_text())
    assert doc["schema"] == SCHEMA and set(doc) >= {"spikefa", "torch", "python", "torch_threads", "cpus", "rounds",
                                                     "load_before", "load_after", "peers", "benchmarks"}
    assert len(doc["load_before"]) == len(doc["load_after"]) == 3
    assert set(doc["peers"]) == {"biotorch", "bindsnet", "brian2", "snntorch"}
    for sec in doc["benchmarks"]:
        assert set(sec) == {"name", "title", "unit", "shapes", "dense", "rows", "ratios", "notes"}
        labels = {r["label"] for r in sec["rows"]}
        for r in sec["rows"]:
            assert r["status"] in ("ok", "missing", "failed") and isinstance(r["reason"], str)
            if r["status"] == "ok":
                dense = sec["dense"][next(k for k, v in sec["shapes"].items()
                                          if sum(2 * m * k * n * c for m, k, n, c in v) == r["flops"])]
                assert r["gflops"] == pytest.approx(r["flops"] / r["seconds"] / 1e9)
                assert r["fraction"] == pytest.approx(r["gflops"] / dense["gflops"])
        for q in sec["ratios"]:
            assert q["spikefa"] in labels and q["peer"] in labels
    text = (out / "bench_peers.md").read_text()
    assert text.count("Roofline (") == sum(len(s["dense"]) for s in doc["benchmarks"]) >= 2
    assert "Load average" in text and (out / "bench_peers.png").is_file()


def test_skip_init_imports_a_package_submodule_without_its_init(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                                ) -> None:
    """The door used for bindsnet: a package whose __init__ fails (as bindsnet's does on its
    torchvision import) still gives its submodules, imported in the declared order."""
    pkg = tmp_path / "fakepeer"
    (pkg / "core").mkdir(parents=True)
    (pkg / "__init__.py").write_text("import no_such_module_torchvision\n")
    (pkg / "core" / "__init__.py").write_text("ORDER = ['core']\n")
    (pkg / "models.py").write_text("from fakepeer.core import ORDER\nORDER.append('models')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(_optional._SKIP_INIT, "fakepeer", ("fakepeer.core",))
    monkeypatch.setitem(_optional._EXTRAS, "fakepeer", ("peers", "the fake peer"))
    try:
        with pytest.raises(ImportError):
            __import__("fakepeer")  # the package's own __init__ does fail
        models = _optional.require("fakepeer.models")
        assert models.ORDER == ["core", "models"] and "no_such_module_torchvision" not in sys.modules
    finally:
        for name in [m for m in sys.modules if m.split(".")[0] == "fakepeer"]:
            del sys.modules[name]
    monkeypatch.setitem(_optional._SKIP_INIT, "nopeer", ("nopeer.core",))
    monkeypatch.setitem(_optional._EXTRAS, "nopeer", ("peers", "the absent peer"))
    with pytest.raises(MissingExtraError, match=r"install spikefa\[peers\] to use the absent peer"):
        _optional.require("nopeer.models")
    assert "nopeer" not in sys.modules


def test_cli_refuses_an_unknown_benchmark(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "peers", "--only", "fa,nope"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "nope" in err and "fa,dc,stdp,spiking" in err
