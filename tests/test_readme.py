"""The README's Python example runs as written (on fake MNIST files written here), and its
statement of which rules take which feedback kinds matches the registry. (Its NIR snippet is run
by tests/export/test_readme_nir.py.)"""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from spikefa.rules import FEEDBACK_KINDS, RULES
from spikefa.data import write_idx
from spikefa.data.mnist import IDX_STEMS

README = Path(__file__).resolve().parents[1] / "README.md"


def section(title: str) -> str:
    text = README.read_text()
    return text.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def write_fake_mnist(folder: Path, n_train: int, n_test: int) -> None:
    """The four MNIST IDX files (raw, uint8) of random images and labels."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    for split, n in (("train", n_train), ("test", n_test)):
        images, labels = IDX_STEMS[split]
        write_idx(folder / images, rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), gzip=False)
        write_idx(folder / labels, rng.integers(0, 10, n, dtype=np.uint8), gzip=False)


def python_example() -> str:
    return section("Use it from Python").split("```python\n", 1)[1].split("```", 1)[0]


def test_readme_python_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code = python_example()
    assert "loader =" in code and "load_dataset(" in code  # the loader it loops over is made in the example
    write_fake_mnist(tmp_path / "mnist", n_train=10_000 + 128, n_test=32)  # val = the last 10,000
    monkeypatch.setenv("SPIKEFA_DATA", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    torch.manual_seed(0)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {"__name__": "readme"})
    accuracy = float(out.getvalue().split("val accuracy", 1)[1])
    assert 0.0 <= accuracy <= 1.0


def test_readme_states_which_rules_take_which_feedback_kinds() -> None:
    text = " ".join(section("Use it from Python").split())
    takes_all = re.search(r"`fa` and `dfa` take any of (.*?);", text)
    assert takes_all and {k for k in FEEDBACK_KINDS if f"`{k}`" in takes_all.group(1)} == set(FEEDBACK_KINDS)
    none = re.search(r"; (`bp`.*?) take none", text)
    assert none
    for name, rule in RULES.items():
        if set(rule.feedbacks) == set(FEEDBACK_KINDS):
            assert name in ("fa", "dfa") and rule.default_feedback == "random"
        elif rule.feedbacks:
            assert f"`{name}` (sign symmetry) takes only its own kind, `{rule.feedbacks[0]}`" in text
            assert rule.feedbacks == (rule.default_feedback,)
        else:
            assert f"`{name}`" in none.group(1), f"README does not say that {name} takes no feedback"
    assert "# or \"dfa\", \"sign\", \"bp\"" not in python_example()



def test_readme_card_template_for_your_own_network_parses(tmp_path: Path) -> None:
    from spikefa.catalog import load_card

    text = README.read_text().split("a model card names the network's factory", 1)[1]
    template = text.split("```toml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "my_net.py").write_text("import snntorch as snn\nfrom torch import nn\n\n"
                                        "def make(input_shape, num_classes, hidden=100):\n"
                                        "    return nn.Sequential(nn.Flatten(), nn.Linear(784, num_classes),\n"
                                        "                         snn.Leaky(beta=0.9, init_hidden=True, output=True))\n")
    (tmp_path / "my-net.toml").write_text(template)
    card = load_card(str(tmp_path / "my-net.toml"))
    assert card.default_rule == "bp" and card.encoder is not None and card.defaults.epochs == 5
    assert dict(card.architecture.arguments) == {"hidden": 50}
