"""The house's floors (../shared/DESIGN.md, "Floors: who may import whom"): every import inside
spikefa points to a lower floor or stays in its own subpackage, so no import cycle between
subpackages can exist; and the harness and exporters never compare a rule's name."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import spikefa

PACKAGE = Path(spikefa.__file__).parent

# floor of each top-level module or subpackage; an import may only point to a strictly lower floor
# (or inside its own unit). train and export share a floor, so neither may import the other.
FLOORS = {
    "errors": 0, "_version": 0,
    "_optional": 1, "_args": 1, "schemas": 1,
    "catalog": 2, "functional": 2,
    "data": 3, "crosscheck": 3,
    "nn": 4,
    "rules": 5,
    "runs": 6,
    "train": 7, "export": 7,
    "experiments": 8,
    "cli": 9, "__init__": 9, "__main__": 9,
}


def unit_of(module: str) -> str:
    """``spikefa.nn.online`` -> ``nn``; ``spikefa.cli`` -> ``cli``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, imported spikefa module) for every import in a file, function-level ones included."""
    module = "spikefa." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names if a.name.startswith("spikefa")]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import: resolve against this module's package
                base = module.rsplit(".", node.level)[0]
                name = f"{base}.{node.module}" if node.module else base
            else:
                name = node.module or ""
            if name.startswith("spikefa"):
                out.append((node.lineno, name))
    return out


def files() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py"))


def test_every_unit_has_a_floor() -> None:
    units = {unit_of("spikefa." + ".".join(p.relative_to(PACKAGE).with_suffix("").parts)) for p in files()}
    assert units <= set(FLOORS), f"give these a floor in FLOORS: {sorted(units - set(FLOORS))}"


@pytest.mark.parametrize("path", files(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_down(path: Path) -> None:
    here = unit_of("spikefa." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts))
    wrong = [f"line {line}: {name} ({unit_of(name)}, floor {FLOORS[unit_of(name)]})"
             for line, name in imports(path)
             if unit_of(name) != here and FLOORS[unit_of(name)] >= FLOORS[here]]
    assert not wrong, f"{path.name} ({here}, floor {FLOORS[here]}) imports upwards or sideways: {wrong}"


def test_no_cycle_between_subpackages() -> None:
    """Independent of the floor table: the graph of subpackage imports has no cycle."""
    graph: dict[str, set[str]] = {}
    for path in files():
        here = unit_of("spikefa." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts))
        graph.setdefault(here, set()).update(u for _, n in imports(path) if (u := unit_of(n)) != here)
    seen: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        seen[node] = 1
        for nxt in sorted(graph.get(node, ())):
            assert seen.get(nxt) != 1, f"import cycle: {' -> '.join(stack + [node, nxt])}"
            if nxt not in seen:
                visit(nxt, stack + [node])
        seen[node] = 2

    for node in sorted(graph):
        if node not in seen:
            visit(node, [])


RULE_NAME_COMPARISON = re.compile(r"""rule(_name)?\s*(==|!=|\bin\b|\bnot in\b)\s*[("']""")


@pytest.mark.parametrize("unit", ["train", "export"])
def test_harness_reads_declarations_not_rule_names(unit: str) -> None:
    from spikefa.rules import RULES

    names = "|".join(re.escape(n) for n in RULES)
    literal = re.compile(rf"""(==|!=|\bin\b)\s*\(?\s*["']({names})["']""")
    found = []
    for path in (PACKAGE / unit).rglob("*.py"):
        for i, line in enumerate(path.read_text().splitlines(), 1):
            if RULE_NAME_COMPARISON.search(line) or ("rule" in line and literal.search(line)):
                found.append(f"{path.name}:{i}: {line.strip()}")
    assert not found, "compare a rule's declarations (spikefa.rules.spec.Rule), not its name: " + "; ".join(found)
