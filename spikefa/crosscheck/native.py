"""spikefa's side of each cross-check: the public pure step functions on the same numpy inputs."""

from __future__ import annotations

import numpy as np
import torch

from spikefa.crosscheck.settings import DTYPES as DTYPE_NAMES
from spikefa.crosscheck.trains import check_time_major
from spikefa.errors import ConfigError
from spikefa.functional.lif import LIFParams, lif_run, rlif_run
from spikefa.functional.stdp import STDPParams, stdp_init, stdp_step

DTYPES: dict[str, torch.dtype] = {name: getattr(torch, name) for name in DTYPE_NAMES}


def torch_dtype(name: str) -> torch.dtype:
    """``"float64"`` -> torch.float64, with a one-line error for anything else."""
    if name not in DTYPES:
        raise ConfigError(f"dtype = {name!r} is not allowed; expected one of {', '.join(DTYPES)}")
    return DTYPES[name]


def spikefa_stdp(pre: np.ndarray, post: np.ndarray, w0: np.ndarray, params: STDPParams, dt: float,
                 dtype: str = "float64", every: int = 1) -> np.ndarray:
    """Weights [⌈T/every⌉, out, in] after steps 0, every, … of ``stdp_step`` (batch of one: the
    exact sequential rule), as ``reference.brian2_stdp`` records them; pre [T, in], post [T, out], T >= 1."""
    check_time_major("spikefa_stdp", pre=pre, post=post)
    td = torch_dtype(dtype)
    pre_t = torch.as_tensor(pre, dtype=td)[:, None, :]
    post_t = torch.as_tensor(post, dtype=td)[:, None, :]
    weight = torch.as_tensor(w0, dtype=td)
    state = stdp_init(pre_t[0], post_t[0], td)
    out = []
    for t in range(pre_t.shape[0]):
        weight, state = stdp_step(pre_t[t], post_t[t], weight, state, params, dt)
        if t % every == 0:
            out.append(weight)
    return torch.stack(out).to(torch.float64).numpy()


def spikefa_lif(currents: np.ndarray, params: LIFParams, dtype: str = "float64") -> tuple[np.ndarray, np.ndarray]:
    """(spikes [T, N] bool, membrane [T, N]) of ``lif_run`` on currents [T, N] (N as the batch), T >= 1."""
    check_time_major("spikefa_lif", currents=currents)
    with torch.no_grad():
        spikes, mem = lif_run(torch.as_tensor(currents, dtype=torch_dtype(dtype)), params)
    return spikes.numpy().astype(bool), mem.to(torch.float64).numpy()


def spikefa_rlif(currents: np.ndarray, weight: np.ndarray, params: LIFParams, dtype: str = "float64"
                 ) -> tuple[np.ndarray, np.ndarray]:
    """(spikes [T, N] bool, membrane [T, N]) of ``rlif_run`` (one sample) on currents [T, N] with
    recurrent weights [N, N] (post, pre)."""
    check_time_major("spikefa_rlif", currents=currents)
    td = torch_dtype(dtype)
    spikes, mem = rlif_run(torch.as_tensor(currents, dtype=td)[:, None], torch.as_tensor(weight, dtype=td), params)
    return spikes[:, 0].numpy().astype(bool), mem[:, 0].to(torch.float64).numpy()
