"""`stdp_run_jit` (spikefa/functional/stdp_kernel.py) against T steps of `stdp_step_events`, bit
for bit, in every STDP mode and every clip, float32 and float64, from weights partly outside the
bounds (the first clip takes all of W) and from given traces."""

from __future__ import annotations

import pytest
import torch

from spikefa.errors import ConfigError
from spikefa.functional.stdp import STDPState
from spikefa.functional.stdp_batched import stdp_step_events
from spikefa.schemas.stdp import STDP_MODES, STDPParams

pytest.importorskip("numba")
from spikefa.functional.stdp_kernel import stdp_run_jit  # noqa: E402


def _steps(pre: torch.Tensor, post: torch.Tensor, w: torch.Tensor, params: STDPParams,
           state: STDPState) -> tuple[torch.Tensor, STDPState]:
    for a, b in zip(pre, post, strict=True):
        i, j = a.nonzero().squeeze(1), b.nonzero().squeeze(1)
        w, state = stdp_step_events((torch.zeros_like(i), i), (torch.zeros_like(j), j), w, state, params)
    return w, state


@pytest.mark.parametrize("mode", sorted(STDP_MODES))
@pytest.mark.parametrize("clip", ["per-pathway", "end-of-step", "none", None])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_the_compiled_train_equals_the_step_function_bitwise(mode: str, clip: str | None, dtype: torch.dtype) -> None:
    kw = {} if clip is None else {"clip": clip}
    params = STDPParams(**{**STDPParams.from_mode(mode, tau_pre=4.0, tau_post=6.0, a_plus=0.2, a_minus=-0.25,
                                                  w_min=0.0, w_max=1.0, dt=1.0).as_dict(), **kw})  # type: ignore[arg-type]
    gen = torch.Generator().manual_seed(1)
    steps, n_in, n_out = 80, 11, 7
    pre, post = torch.rand(steps, n_in, generator=gen) < 0.3, torch.rand(steps, n_out, generator=gen) < 0.3
    w0 = torch.rand(n_out, n_in, generator=gen, dtype=dtype) * 1.2 - 0.1  # some entries outside [0, 1]
    state = STDPState(torch.rand(1, n_in, generator=gen, dtype=dtype) * 0.1,
                      -torch.rand(1, n_out, generator=gen, dtype=dtype) * 0.1)
    ref_w, ref_s = _steps(pre, post, w0, params, state)
    w, s = stdp_run_jit(pre, post, w0, params, state=state)
    assert torch.equal(w, ref_w) and torch.equal(s.pre_trace, ref_s.pre_trace)
    assert torch.equal(s.post_trace, ref_s.post_trace)
    assert not torch.equal(w, w0) and w0.min() < 0  # it learned, and the input weight is untouched


def test_shapes_are_checked_in_one_line() -> None:
    params = STDPParams.from_mode("brian2", tau_pre=5.0, tau_post=5.0, a_plus=0.1, a_minus=-0.1, w_min=0.0,
                                  w_max=1.0, dt=1.0)
    with pytest.raises(ConfigError, match=r"weight \(3, 3\)"):
        stdp_run_jit(torch.zeros(4, 3), torch.zeros(4, 2), torch.zeros(3, 3), params)
    with pytest.raises(ConfigError, match="same T"):
        stdp_run_jit(torch.zeros(4, 3), torch.zeros(5, 2), torch.zeros(2, 3), params)
