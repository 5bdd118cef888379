"""Checkpoints written atomically: a crash mid-write never leaves a broken file behind."""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from spikefa.errors import SpikefaError


CHECKPOINT = "checkpoint.pt"


def _umask() -> int:
    mask = os.umask(0)  # reading the umask means setting it; put it straight back
    os.umask(mask)
    return mask


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary file in the same folder, fsync, then rename over ``path``. The file gets
    the mode any other new file would (0666 less the user's umask), not mkstemp's private 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Save a training state (model, optimiser, RNG, history) atomically."""
    import io

    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(path, buf.getvalue())


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Load a checkpoint written by ``save_checkpoint``; errors name the file."""
    if not path.is_file():
        raise SpikefaError(f"{path}: no checkpoint here; is it a run directory made by `spikefa train`?")
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # a corrupt file is a user-facing problem, not a traceback
        raise SpikefaError(f"{path}: cannot read checkpoint ({type(exc).__name__}: {exc})") from None


LOCK = "run.lock"
BEST = "best.pt"
"""The weights of the epoch with the best validation accuracy so far (``spikefa train`` writes it
beside ``checkpoint.pt``; ``spikefa export --checkpoint best`` exports them)."""


class RunLock:
    """``run.lock`` in a run directory while a process trains it (its PID and host), created
    exclusively (two processes starting together cannot both hold it): a second `spikefa train` into
    the same directory, fresh or ``--resume``, is refused while the holder lives, naming it, and also
    when the holder is on another host (its life cannot be checked from here). A lock left on this
    host by a process that died (kill -9) is taken over. The lock is removed when the training ends,
    however it ends. Use as a context manager."""

    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / LOCK
        self.host = os.uname().nodename
        self.mine = f"{os.getpid()} {self.host}"

    def __enter__(self) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(2):  # the second try follows the removal of a dead process's lock
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                self._refuse_or_clear()
                continue
            with os.fdopen(fd, "w") as f:
                f.write(self.mine + "\n")
            return self
        raise SpikefaError(f"{self.path}: another process took this run's lock at the same moment; try again")

    def _refuse_or_clear(self) -> None:
        """Refuse when the lock's holder may be alive; remove the lock of a dead one."""
        text = ""
        for _ in range(2):  # a holder creates the file, then writes its PID: give it a moment
            try:
                text = self.path.read_text().strip()
            except FileNotFoundError:
                return
            if text:
                break
            time.sleep(0.2)
        pid_text, _, host = text.partition(" ")
        pid = int(pid_text) if pid_text.isdigit() else 0
        where = "" if host in ("", self.host) else f" on host {host}"
        if pid and pid != os.getpid() and (where or _alive(pid)):
            raise SpikefaError(f"{self.path.parent}: process {pid}{where} is training this run now ({self.path}); "
                               "wait for it or stop it before training here (if that process is gone or is not "
                               f"spikefa, delete {LOCK})")
        self.path.unlink(missing_ok=True)

    def __exit__(self, *exc: object) -> None:
        try:
            if self.path.read_text().strip() == self.mine:
                self.path.unlink()
        except OSError:
            pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True
