"""spikefa.catalog: explicit path > $SPIKEFA_MODELS > installed copy > repository checkout."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import spikefa.catalog as catalog
from spikefa.catalog import find_card, find_file, list_cards, list_names, load_card, search_dirs
from spikefa.errors import ConfigError

CHECKOUT_MODELS = Path(catalog.__file__).resolve().parents[1] / "models"


@pytest.fixture(autouse=True)
def _no_env_overrides(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("SPIKEFA_MODELS", raising=False)
    monkeypatch.delenv("SPIKEFA_HARDWARE", raising=False)
    yield


def _card_text(description: str) -> str:
    text = (CHECKOUT_MODELS / "lenet.toml").read_text(encoding="utf-8")
    old = next(line for line in text.splitlines() if line.startswith("description = "))
    return text.replace(old, f'description = "{description}"')


def test_names_resolve_to_the_checkout_without_overrides() -> None:
    assert CHECKOUT_MODELS.is_dir(), "these tests run from a repository checkout"
    assert find_card("lenet") == CHECKOUT_MODELS / "lenet.toml"
    assert search_dirs("models")[-1] == CHECKOUT_MODELS
    assert set(list_cards()) == {p.stem for p in CHECKOUT_MODELS.glob("*.toml")}


def test_explicit_path_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "elsewhere" / "lenet.toml"
    path.parent.mkdir()
    path.write_text(_card_text("from an explicit path"), encoding="utf-8")
    env = tmp_path / "env"
    env.mkdir()
    (env / "lenet.toml").write_text(_card_text("from the env dir"), encoding="utf-8")
    monkeypatch.setenv("SPIKEFA_MODELS", str(env))
    for spelling in (path, str(path)):
        card = load_card(spelling)
        assert card.description == "from an explicit path" and card.source == str(path)


def test_env_directory_overrides_and_extends(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "lenet.toml").write_text(_card_text("overridden"), encoding="utf-8")
    (tmp_path / "extra.toml").write_text(_card_text("extra").replace('name = "lenet"',
                                                                     'name = "extra"'),
                                         encoding="utf-8")
    monkeypatch.setenv("SPIKEFA_MODELS", str(tmp_path))
    assert search_dirs("models")[0] == tmp_path
    assert load_card("lenet").description == "overridden"
    assert load_card("extra").name == "extra"
    assert find_card("mlp-2x800-relu") == CHECKOUT_MODELS / "mlp-2x800-relu.toml"
    assert {"extra", "lenet", "mlp-2x800-relu"} <= set(list_cards())


def test_env_variable_that_is_not_a_directory(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPIKEFA_MODELS", str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match=r"\$SPIKEFA_MODELS = .*missing.* not a directory"):
        find_card("lenet")


def test_unknown_name_lists_the_available_names() -> None:
    with pytest.raises(ConfigError) as info:
        find_card("no-such-card")
    message = str(info.value)
    assert "'no-such-card'" in message and "\n" not in message
    assert all(name in message for name in list_cards())


def test_missing_explicit_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"missing\.toml' does not exist"):
        load_card(tmp_path / "missing.toml")


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text('name = "broken\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"broken\.toml: not valid TOML"):
        load_card(path)


def test_hardware_kind_uses_the_same_mechanism(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    assert isinstance(list_names("hardware"), list)  # may be empty for now
    (tmp_path / "chip.toml").write_text('name = "chip"\n', encoding="utf-8")
    monkeypatch.setenv("SPIKEFA_HARDWARE", str(tmp_path))
    assert find_file("chip", "hardware") == tmp_path / "chip.toml"
    assert "chip" in list_names("hardware") and "chip" not in list_cards()
    with pytest.raises(ConfigError, match="unknown hardware profile 'lenet'"):
        find_file("lenet", "hardware")


def test_unknown_kind() -> None:
    with pytest.raises(ConfigError, match="kind = 'datasets'"):
        find_file("lenet", "datasets")  # type: ignore[arg-type]


def test_a_misspelled_card_name_gets_a_suggestion() -> None:
    with pytest.raises(ConfigError, match=r"unknown model card 'mlp-1x800-tanhh'; did you mean 'mlp-1x800-tanh'\?"):
        find_file("mlp-1x800-tanhh")
    with pytest.raises(ConfigError) as info:
        find_file("zzzz")
    assert "did you mean" not in str(info.value)
