"""Every shipped hardware profile loads and validates; a bad one fails with one line naming file and key."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from spikefa.catalog import find_file, read_toml
from spikefa.errors import ConfigError
from spikefa.export.profile import list_profiles, load_profile, parse_profile
from spikefa.export.writers import EXPORTERS

REQUIRED = {"loihi2", "xylo-audio2", "speck", "spinnaker2", "akida", "ternary", "int8-edge", "mcu-int8"}


def test_every_required_profile_is_shipped_and_valid() -> None:
    names = set(list_profiles())
    assert REQUIRED <= names
    for name in names:
        p = load_profile(name)
        assert p.name == name and p.references and set(p.formats) <= set(EXPORTERS)
        assert p.weights.bits in p.weights.bits_options
        text = find_file(name, "hardware").read_text()
        assert text.lstrip().startswith("#"), f"{name}.toml must open with comments citing its sources"


def test_the_issue_numbers() -> None:
    loihi = load_profile("loihi2")
    assert (loihi.weights.bits, loihi.neuron.state_bits, loihi.neuron.threshold_bits) == (8, 24, 17)
    assert not loihi.neuron.threshold_signed and loihi.neuron.decay_bits == 12 and loihi.max_delay == 62
    assert loihi.neuron.decay_rounding == "toward-zero" and loihi.weights.exponent[1] > 0
    xylo = load_profile("xylo-audio2")
    assert (xylo.limits.inputs, xylo.limits.hidden_neurons, xylo.limits.outputs) == (16, 1000, 8)
    assert xylo.neuron.decay == "shift" and xylo.neuron.state_bits == xylo.neuron.threshold_bits == 16
    speck = load_profile("speck")
    assert speck.neuron.models == ("if",) and speck.limits.layers == 9 and speck.weights.exponent == (0, 0)
    assert set(load_profile("akida").weights.bits_options) == {1, 2, 4}
    assert load_profile("ternary").weights.levels() == (-1, 1)
    edge = load_profile("int8-edge")
    assert edge.weights.levels() == (-127, 127) and edge.weights.scale == "per-channel" and edge.bias.bits == 32


def _mutated(name: str, section: str, key: str, value: object) -> dict:
    data = copy.deepcopy(read_toml(find_file(name, "hardware")))
    data[section][key] = value
    return data


@pytest.mark.parametrize(("section", "key", "value"), [
    ("weights", "bits", 0), ("weights", "scale", "per-row"), ("weights", "exponent", [3, 1]),
    ("neuron", "state_bits", "24"), ("neuron", "decay", "exp"), ("neuron", "resets", ["bounce"]),
    ("limits", "inputs", -1), ("weights", "bits_options", [4]),
])
def test_a_bad_value_names_file_section_key_and_value(section: str, key: str, value: object) -> None:
    with pytest.raises(ConfigError) as err:
        parse_profile(_mutated("loihi2", section, key, value), "hardware/loihi2.toml")
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(f"hardware/loihi2.toml: {section}.{key}") and repr(value) in msg


def test_unknown_keys_missing_keys_and_name_mismatch(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"f.toml: unknown key 'neuron.leak' = 1; allowed keys: models"):
        parse_profile(_mutated("loihi2", "neuron", "leak", 1), "f.toml")
    data = read_toml(find_file("loihi2", "hardware"))
    del data["neuron"]
    with pytest.raises(ConfigError, match=r"f.toml: missing required key 'neuron'"):
        parse_profile(data, "f.toml")
    with pytest.raises(ConfigError, match="decay = 'none'"):
        parse_profile(_mutated("speck", "neuron", "models", ["lif"]), "f.toml")
    (tmp_path / "mine.toml").write_text(find_file("loihi2", "hardware").read_text())
    assert load_profile(tmp_path / "mine.toml").name == "loihi2"  # an explicit path may differ from the name


def test_with_bits_only_offers_listed_widths() -> None:
    p = load_profile("int8-edge")
    assert p.with_bits(4).weights.levels() == (-7, 7)
    with pytest.raises(ConfigError, match="bits = 3 is not offered by profile 'int8-edge'"):
        p.with_bits(3)
