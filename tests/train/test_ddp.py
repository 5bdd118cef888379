"""Distributed data parallel through ``torchrun`` (gloo on CPU) against one process.

One ``torchrun --nproc_per_node 2`` launch trains every config through ``spikefa.train.train``
(``ddp_worker.py``); the same configs are then trained here in one process with the same global
batch. Each rank takes half of every global batch of 32 and DDP averages the gradients, so the
final weights agree up to float summation order, and the feedback buffers agree bit for bit.
Every rank must also draw the same feedback from the run seed on its own, before DDP could
broadcast rank 0's buffers, and hold the same feedback matrices after every epoch.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from ..helpers import load_script

pytestmark = pytest.mark.slow

WORKER = Path(__file__).with_name("ddp_worker.py")
CONFIGS = ["fa:random", "fa:batch-random-sign", "dfa:batch-random-sign"]
UNEVEN = "fa:random:31:311"  # global batches of 31 (shares 16/15) and a last one of 1 (shares 1/0)
WORLD = 2
DIST_VARS = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


def _launch(out: Path, specs: list[str]) -> subprocess.CompletedProcess[str]:
    """``torchrun --standalone`` (a free local port) with WORLD processes, one thread each."""
    env = {k: v for k, v in os.environ.items() if k not in DIST_VARS}
    env["OMP_NUM_THREADS"] = "1"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={WORLD}",
           str(WORKER), str(out), *specs]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)  # its own process group, so a hang kills all ranks
    try:
        out_text, err_text = proc.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out_text, err_text = proc.communicate()
        err_text += "\n[test] torchrun killed after 240 s"
    return subprocess.CompletedProcess(cmd, proc.returncode, out_text, err_text)


def _single(out: Path, specs: list[str]) -> None:
    """The same worker in this process, without any torchrun environment: world size 1."""
    worker = load_script(WORKER, "spikefa_ddp_worker")
    saved = {k: os.environ.pop(k) for k in DIST_VARS if k in os.environ}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as each rank: summation order then differs only by the all-reduce
    try:
        worker.main([str(out), *specs])
    finally:
        torch.set_num_threads(threads)
        os.environ.update(saved)


def _both(tmp: pytest.TempPathFactory, specs: list[str]) -> tuple[Path, Path]:
    multi, single = tmp.mktemp("ddp2"), tmp.mktemp("ddp1")
    proc = _launch(multi, specs)
    assert proc.returncode == 0, f"torchrun exit {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    _single(single, specs)
    return multi, single


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(directory of the 2-process runs, directory of the 1-process runs); one torchrun launch for all."""
    return _both(tmp_path_factory, [*CONFIGS, UNEVEN])


def _assert_same_final(multi: Path, single: Path, spec: str) -> None:
    name = spec.replace(":", "-")
    got, want = (torch.load(d / name / "checkpoint.pt", weights_only=False)["model"] for d in (multi, single))
    assert got.keys() == want.keys()
    for key, w in want.items():
        if key.endswith(("weight", "bias")):
            torch.testing.assert_close(got[key], w, atol=1e-5, rtol=1e-5, msg=lambda m: f"{spec} {key}: {m}")
        else:  # feedback buffers: fixed part, scale, seed, step counter
            assert got[key].dtype == w.dtype and torch.equal(got[key], w), f"{spec} {key}: feedback buffer differs"


@pytest.mark.parametrize("spec", CONFIGS)
def test_two_processes_match_one(runs: tuple[Path, Path], spec: str) -> None:
    multi, single = runs
    _assert_same_final(multi, single, spec)
    model = torch.load(single / spec.replace(":", "-") / "checkpoint.pt", weights_only=False)["model"]
    steps = [v for k, v in model.items() if k.endswith("step")]
    assert steps and all(int(s) == 2 * 320 // 32 for s in steps)  # one redraw per global batch


def _assert_same(a: dict[str, Any], b: dict[str, Any], what: str) -> None:
    assert a["state"].keys() == b["state"].keys()
    for key in a["state"]:
        assert torch.equal(a["state"][key], b["state"][key]), f"{what}: {key} differs between ranks"
    assert len(a["feedback"]) == len(b["feedback"]) > 0
    for i, (x, y) in enumerate(zip(a["feedback"], b["feedback"])):
        assert torch.equal(x, y), f"{what}: feedback matrix {i} differs between ranks"


@pytest.mark.parametrize("spec", CONFIGS)
def test_feedback_identical_on_every_rank(runs: tuple[Path, Path], spec: str) -> None:
    multi, _ = runs
    name = spec.replace(":", "-")
    snaps = [torch.load(multi / f"{name}.rank{r}.pt", weights_only=False) for r in range(WORLD)]
    for other in snaps[1:]:
        _assert_same(snaps[0]["initial"], other["initial"], f"{spec} as built")  # before DDP's broadcast
        assert len(other["epochs"]) == len(snaps[0]["epochs"]) == 2
        for epoch, (a, b) in enumerate(zip(snaps[0]["epochs"], other["epochs"]), start=1):
            _assert_same(a, b, f"{spec} after epoch {epoch}")
    written = sorted(p.name for p in (multi / name).iterdir() if p.suffix in (".pt", ".json", ".csv", ".lock"))
    assert written == ["best.pt", "checkpoint.pt", "config.json", "metrics.csv", "summary.json"]


def test_uneven_shares_and_logged_loss_match_one_process(runs: tuple[Path, Path]) -> None:
    spec = UNEVEN
    multi, single = runs
    _assert_same_final(multi, single, spec)
    summary = lambda d: json.loads((d / spec.replace(":", "-") / "summary.json").read_text())  # noqa: E731
    assert summary(multi)["train_loss"] == pytest.approx(summary(single)["train_loss"], abs=1e-5)
