"""Every artefact against its reference, spike for spike: ONNX (onnxruntime) and C (the system C
compiler) against the integer simulator, NIR (nir.read + snnTorch's importer) against spikefa's
float simulation of the quantised network; small golden files pin the integer simulator and the
quantiser. Set SPIKEFA_REGEN_GOLDEN=1 to rewrite the golden files after an intended change."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from spikefa.export import c_writer
from spikefa.export.arith import DecayCode
from spikefa.export.pipeline import export
from spikefa.export.quantize import QLayer, QuantizedNet, quantize
from spikefa.export.simulate import dequantize, run_float, run_int
from spikefa.export.writers import EXPORTERS

from .nets import assert_every_verification_ran, profile, require_every_verifier, spikes, tiny_net, variant

GOLDEN = Path(__file__).parent / "golden"
REGEN = os.environ.get("SPIKEFA_REGEN_GOLDEN") == "1"
GOLDEN_RUNS = ["loihi2", "xylo-audio2"]
NO_COMPILER = "no C compiler ($CC, cc, gcc or clang on PATH): the C artefact cannot be compiled and checked"

VARIANTS = {
    "int8-edge": lambda: profile("int8-edge"),
    "loihi2-toward-zero": lambda: profile("loihi2"),
    "xylo-shift": lambda: profile("xylo-audio2"),
    "nearest-wrap-12bit": lambda: variant("int8-edge", neuron={"state_bits": 12, "threshold_bits": 12,
                                                               "overflow": "wrap", "decay_rounding": "nearest"}),
    "mcu-power-of-two-4bit": lambda: profile("mcu-int8").with_bits(4),
}


@pytest.fixture(scope="module")
def cases() -> dict[str, tuple[QuantizedNet, torch.Tensor]]:
    out = {}
    for i, (name, make) in enumerate(VARIANTS.items()):
        reset = "zero" if i % 2 else "subtract"
        net = tiny_net((12, 9, 4), reset=reset, gain=8.0 if "wrap" in name else 5.0, seed=i)
        out[name] = (quantize(net, make()), spikes(12, 3, 12, rate=0.4, seed=i))
    return out


@pytest.mark.parametrize("name", list(VARIANTS))
def test_onnx_through_onnxruntime_matches_the_integer_simulator(name: str, cases, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("onnxruntime")
    qnet, x = cases[name]
    EXPORTERS["onnx"].write(qnet, tmp_path)
    v = EXPORTERS["onnx"].verify(qnet, tmp_path, x)
    assert v.mismatches == 0 and v.total == 12 * 3 * (9 + 4)
    assert sum(int(s.sum()) for s in run_int(qnet, x).spikes) > 0


@pytest.mark.skipif(c_writer.find_compiler() is None, reason=NO_COMPILER)
@pytest.mark.parametrize("name", list(VARIANTS))
def test_c_through_the_compiler_matches_the_integer_simulator(name: str, cases, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    qnet, x = cases[name]
    EXPORTERS["c"].write(qnet, tmp_path)
    v = EXPORTERS["c"].verify(qnet, tmp_path, x)
    assert v.mismatches == 0 and v.total == 12 * 3 * (9 + 4)
    assert "static inline void spikefa_step" in (tmp_path / "spikefa_model.h").read_text()


@pytest.mark.skipif(c_writer.find_compiler() is None, reason=NO_COMPILER)
def test_the_c_runner_says_what_is_wrong_with_its_input(cases, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import subprocess

    qnet, _ = cases[next(iter(VARIANTS))]
    EXPORTERS["c"].write(qnet, tmp_path)
    assert "Exit status: 0 done; 2 a bad header" in (tmp_path / "spikefa_main.c").read_text()  # its usage, in the file
    exe = tmp_path / "runner"
    subprocess.run([c_writer.find_compiler(), "-std=c99", "-Wall", "-Wextra", "-Werror", "-o", str(exe),
                    str(tmp_path / "spikefa_main.c")], check=True)
    n = qnet.in_features
    for text, code, says in [(f"2 1 {n + 1}\n", 2, f"N = {n} inputs"), (f"2 1 {n}\n" + "1" * n, 4, "input ended at step 1")]:
        done = subprocess.run([str(exe)], input=text, capture_output=True, text=True)
        assert done.returncode == code and says in done.stderr


@pytest.mark.parametrize(("reset", "beta"), [("subtract", 0.9), ("zero", 0.9), ("subtract", 1.0)])
def test_nir_through_snntorch_matches_the_float_simulation(reset: str, beta: float, tmp_path: Path) -> None:
    pytest.importorskip("snntorch")
    nir = pytest.importorskip("nir")
    qnet = quantize(tiny_net((12, 9, 4), reset=reset, beta=beta, gain=5.0 if beta < 1 else 2.5), profile("loihi2"))
    x = spikes(15, 4, 12, rate=0.4)
    EXPORTERS["nir"].write(qnet, tmp_path)
    graph = nir.read(str(tmp_path / "model.nir"))
    assert [type(graph.nodes[k]).__name__ for k in ("input", "fc0", "lif0", "fc1", "lif1", "output")] == \
        ["Input", "Affine", "LIF" if beta < 1 else "IF", "Affine", "LIF" if beta < 1 else "IF", "Output"]
    side = json.loads((tmp_path / "model.nir.json").read_text())
    assert side["layers"][0]["reset"] == reset and side["dt_ms"] == 1.0 and side["profile"] == "loihi2"
    v = EXPORTERS["nir"].verify(qnet, tmp_path, x)
    assert v.mismatches == 0 and int(run_float(dequantize(qnet), x).out.sum()) > 0


def _to_json(qnet: QuantizedNet, x: torch.Tensor) -> dict:
    return {"profile": qnet.profile.name, "bits": qnet.bits, "state_bits": qnet.state_bits, "overflow": qnet.overflow,
            "layers": [{"weight": q.weight.tolist(), "weight_shift": q.weight_shift, "bias": q.bias.tolist(),
                        "bias_shift": q.bias_shift, "threshold": q.threshold.tolist(), "unit": q.unit.tolist(),
                        "decay": q.decay.__dict__, "reset": q.reset, "beta": q.beta, "dt": q.dt} for q in qnet.layers],
            "input": x.to(torch.int64).tolist(),
            "spikes": [s.tolist() for s in run_int(qnet, x).spikes]}


def _from_json(data: dict) -> tuple[QuantizedNet, torch.Tensor, list[torch.Tensor]]:
    layers = tuple(QLayer(torch.tensor(d["weight"]), d["weight_shift"], torch.tensor(d["bias"]), d["bias_shift"],
                          torch.tensor(d["threshold"]), torch.tensor(d["unit"], dtype=torch.float64),
                          DecayCode(**d["decay"]), d["reset"], d["beta"], d["dt"]) for d in data["layers"])
    qnet = QuantizedNet(layers, profile(data["profile"]), data["bits"], data["state_bits"], data["overflow"], ())
    return qnet, torch.tensor(data["input"], dtype=torch.float32), [torch.tensor(s) for s in data["spikes"]]


def _golden_run(name: str) -> tuple[QuantizedNet, torch.Tensor, list[torch.Tensor]]:
    return _from_json(json.loads((GOLDEN / f"int_sim_{name}.json").read_text()))


@pytest.mark.parametrize("name", GOLDEN_RUNS)
def test_golden_integer_runs(name: str) -> None:
    path = GOLDEN / f"int_sim_{name}.json"
    if REGEN:
        net = tiny_net((6, 5, 3), reset="zero" if name == "loihi2" else "subtract", gain=5.0, seed=7)
        path.write_text(json.dumps(_to_json(quantize(net, profile(name)), spikes(10, 2, 6, rate=0.4, seed=7))))
    qnet, x, want = _golden_run(name)
    assert [s.tolist() for s in run_int(qnet, x).spikes] == [s.tolist() for s in want]
    assert sum(int(s.sum()) for s in want) > 0


@pytest.mark.parametrize("name", GOLDEN_RUNS)
def test_golden_runs_through_onnx(name: str, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime", reason="onnxruntime is not installed: the ONNX artefact cannot be run")
    qnet, x, _ = _golden_run(name)
    EXPORTERS["onnx"].write(qnet, tmp_path)
    v = EXPORTERS["onnx"].verify(qnet, tmp_path, x)
    assert not v.skipped and v.total > 0 and v.mismatches == 0


@pytest.mark.skipif(c_writer.find_compiler() is None, reason=NO_COMPILER)
@pytest.mark.parametrize("name", GOLDEN_RUNS)
def test_golden_runs_through_c(name: str, tmp_path: Path) -> None:
    qnet, x, _ = _golden_run(name)
    EXPORTERS["c"].write(qnet, tmp_path)
    v = EXPORTERS["c"].verify(qnet, tmp_path, x)
    assert not v.skipped and v.total > 0 and v.mismatches == 0


def _net_from(params: list[dict]) -> torch.nn.Module:
    net = tiny_net(tuple([len(params[0]["weight"][0])] + [len(p["weight"]) for p in params]))
    with torch.no_grad():
        for syn, p in zip(net.synapses, params):
            lin = syn[-1] if isinstance(syn, torch.nn.Sequential) else syn
            lin.weight.copy_(torch.tensor(p["weight"]))
            lin.bias.copy_(torch.tensor(p["bias"]))
    return net


def test_golden_quantizer() -> None:
    """Float weights in, integers out, for five profiles (the weights are stored, not drawn)."""
    path = GOLDEN / "quantiser.json"
    if REGEN:
        net = tiny_net((5, 4, 3), gain=2.0, seed=3)
        params = [{"weight": lin.weight.tolist(), "bias": lin.bias.tolist()}
                  for lin in (net.synapses[0][1], net.synapses[1])]
    else:
        params = json.loads(path.read_text())["float"]
    net = _net_from(params)
    got = {}
    for name in ("loihi2", "int8-edge", "xylo-audio2", "ternary", "mcu-int8"):
        q = quantize(net, profile(name))
        got[name] = [{"weight": l.weight.tolist(), "weight_shift": l.weight_shift, "bias": l.bias.tolist(),
                      "threshold": l.threshold.tolist(), "decay": [l.decay.kind, l.decay.value]} for l in q.layers]
    if REGEN:
        path.write_text(json.dumps({"float": params, "expected": got}, indent=1))
    assert got == json.loads(path.read_text())["expected"]


def test_export_writes_verifies_and_keeps_a_golden(tmp_path: Path) -> None:
    require_every_verifier()
    summary = export(tiny_net(), profile("mcu-int8"), tmp_path, meta={"run": "test"})
    assert summary["ok"] and summary["formats"] == ["c", "onnx", "nir"]
    assert_every_verification_ran(summary["verification"])
    golden = torch.load(tmp_path / "golden.pt")
    assert golden["spikes"].shape[-1] == 20 and golden["out"].shape[-1] == 5


def test_a_verification_that_cannot_run_is_not_a_pass(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Without a C compiler the C artefact is written but unverified: not in `verified`, not `ok`,
    and not a failure of the export either."""
    from spikefa.export.writers import Verification

    monkeypatch.setattr(c_writer, "find_compiler", lambda: None)
    summary = export(tiny_net(), profile("int8-edge"), tmp_path, formats=["c"])
    (check,) = summary["verification"]
    assert check["skipped"] and not check["ok"] and not check["failed"]
    assert summary["ok"] and summary["verified"] == [] and summary["unverified"] == ["c"]
    assert not Verification("c", "x", 0, 0, skipped=True).ok and Verification("c", "x", 0, 10).ok
