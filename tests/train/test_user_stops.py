"""What a user sees when they stop a run or resume one: Ctrl-C in the first epoch says truthfully
that nothing was kept and exits 2, `--resume` then starts the run again; files in a run directory
get the user's umask like any other file."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from spikefa.cli import main
from spikefa.train import Interrupted, resolve_config, train


def _config():  # type: ignore[no-untyped-def]
    return resolve_config("mlp-1x800-tanh", "fa", "digits", epochs=2, limit_train=128, batch_size=32,
                          align_every=0)


def test_ctrl_c_in_the_first_epoch_keeps_nothing_and_resume_starts_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import spikefa.train.run as run

    original = run.train_epoch

    def interrupted(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise KeyboardInterrupt

    monkeypatch.setattr(run, "train_epoch", interrupted)
    out = tmp_path / "run"
    code = main(["train", "--model", "mlp-1x800-tanh", "--rule", "fa", "--dataset", "digits", "--epochs", "2",
                 "--limit-train", "128", "--batch-size", "32", "--align-every", "0", "--no-progress", "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err
    assert "before the first checkpoint" in err and f"--resume {out}" in err and "starts this run again" in err
    assert not (out / "checkpoint.pt").exists() and (out / "config.json").exists()
    monkeypatch.setattr(run, "train_epoch", original)
    assert main(["train", "--resume", str(out), "--no-progress"]) == 0
    assert json.loads((out / "summary.json").read_text())["epochs"] == 2
    whole = train(_config(), tmp_path / "whole", progress=False)
    assert json.loads((out / "summary.json").read_text())["test_accuracy"] == whole["test_accuracy"]


def test_ctrl_c_after_an_epoch_names_the_kept_checkpoint(tmp_path: Path) -> None:
    def stop(row: dict) -> None:  # type: ignore[type-arg]
        raise KeyboardInterrupt

    with pytest.raises(Interrupted, match=r"checkpoint \(epoch 1 done\) is kept: continue with"):
        train(_config(), tmp_path / "run", progress=False, on_epoch=stop)


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_run_files_follow_the_umask(tmp_path: Path, umask: int) -> None:
    old = os.umask(umask)
    try:
        train(_config(), tmp_path / "run", progress=False)
    finally:
        os.umask(old)
    want = 0o666 & ~umask
    for name in ("config.json", "metrics.csv", "summary.json", "checkpoint.pt", "curves.png"):
        mode = stat.S_IMODE((tmp_path / "run" / name).stat().st_mode)
        assert mode == want, (name, oct(mode), oct(want))
