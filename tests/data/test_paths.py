"""resolve_data_dir precedence: explicit folder > $SPIKEFA_DATA > user cache; both folder forms."""

from __future__ import annotations

from pathlib import Path

import pytest

from spikefa.data import resolve_data_dir


@pytest.fixture()
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SPIKEFA_DATA", str(tmp_path / "env"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path


def test_explicit_beats_env(env: Path) -> None:
    assert resolve_data_dir("mnist", env / "mine") == env / "mine"


def test_explicit_root_with_named_subfolder(env: Path) -> None:
    (env / "root" / "mnist").mkdir(parents=True)
    assert resolve_data_dir("mnist", env / "root") == env / "root" / "mnist"
    assert resolve_data_dir("cifar10", env / "root") == env / "root"  # no cifar10/ there


def test_env_beats_cache_both_forms(env: Path) -> None:
    assert resolve_data_dir("mnist") == env / "env"
    (env / "env" / "mnist").mkdir(parents=True)
    assert resolve_data_dir("mnist") == env / "env" / "mnist"


def test_cache_when_nothing_else(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SPIKEFA_DATA")
    assert resolve_data_dir("mnist") == env / "xdg" / "spikefa" / "mnist"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(env / "home"))
    assert resolve_data_dir("fashion-mnist") == env / "home" / ".cache" / "spikefa" / "fashion-mnist"


def test_a_file_in_place_of_the_folder_says_it_is_a_file(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from spikefa.errors import DataError

    a_file = env / "t10k-images-idx3-ubyte.gz"
    a_file.write_bytes(b"")
    with pytest.raises(DataError, match=r"mnist: --data-dir \(data_dir=\) .*t10k-images-idx3-ubyte\.gz is a file, "
                                        r"not a folder; give the folder that holds"):
        resolve_data_dir("mnist", a_file)
    monkeypatch.setenv("SPIKEFA_DATA", str(a_file))
    with pytest.raises(DataError, match=r"cifar10: \$SPIKEFA_DATA=.* is a file"):
        resolve_data_dir("cifar10")
