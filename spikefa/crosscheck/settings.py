"""How a cross-check runs: spikefa's dtype, Brian2's code generation target, the tolerances.

Kept free of torch and Brian2 imports so that building the CLI parser stays cheap.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from spikefa.schemas.validate import Validated, choices

Dtype = Literal["float64", "float32"]
Target = Literal["numpy", "cython"]  # Brian2 code generation; numpy needs no compiler
DTYPES: tuple[str, ...] = choices(Dtype)
TARGETS: tuple[str, ...] = choices(Target)
# Tolerance per spikefa dtype, × w_max for weights and × θ for membranes (Brian2 runs in float64).
REL_TOL: dict[str, float] = {"float64": 1e-9, "float32": 1e-4}
# |measured − predicted drift| / (r_pre·r_post·(|A₊|τ_pre + |A₋|τ_post)·T): sampling noise, the
# start-up transient (traces start at 0: ≈ τ/T) and (A₊ − A₋)·dt/2 from the discrete window.
DRIFT_TOL = 0.05


@dataclass(frozen=True)
class Settings(Validated):
    """spikefa's dtype, Brian2's target, and a hook replacing the params on spikefa's side only."""

    UNCHECKED = ("mutate",)

    dtype: Dtype = "float64"
    target: Target = "numpy"
    mutate: Callable[[Any], Any] | None = None  # params -> params (tests: prove a wrong rule fails)

    @property
    def rel_tol(self) -> float:
        return REL_TOL[self.dtype]

    def ours(self, params: Any) -> Any:
        """The params spikefa's side runs with (the mutated ones, if a mutation is set)."""
        return self.mutate(params) if self.mutate is not None else params
