"""STDP networks as modules: Diehl & Cook (2015) unsupervised learning, the delta-rule readout of
spike-count features, and three-factor (error-gated) STDP; all learned state lives in buffers.
Their kernels are in `spikefa.functional` (``stdp``, ``stdp_batched``, ``diehl_cook``,
``eligibility``, ``voting``); their constants in `spikefa.schemas.stdp`."""

from spikefa.nn.stdp.diehl_cook import DiehlCookNet
from spikefa.nn.stdp.readout import DeltaReadout
from spikefa.nn.stdp.three_factor import ThreeFactorNet

__all__ = ["DeltaReadout", "DiehlCookNet", "ThreeFactorNet"]
