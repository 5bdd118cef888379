"""STDP networks: Diehl & Cook (2015) unsupervised learning, STDP features with an error-driven
readout, and three-factor (error-gated) STDP; all learned state lives in buffers."""

from spikefa.nn.stdp.batched import Events, bernoulli_events, normalize_incoming, stdp_step_batched, stdp_step_events
from spikefa.nn.stdp.diehl_cook import DCState, DiehlCookNet, DiehlCookParams, dc_init, dc_neuron_step
from spikefa.nn.stdp.readout import DeltaReadout
from spikefa.nn.stdp.three_factor import (ThreeFactorNet, ThreeFactorParams, stdp_eligibility, stdp_traces,
                                          three_factor_delta, three_factor_delta_traces)
from spikefa.nn.stdp.voting import UNASSIGNED, assign_labels, class_rates, predict, vote

__all__ = [
    "DCState",
    "DeltaReadout",
    "Events",
    "ThreeFactorNet",
    "ThreeFactorParams",
    "bernoulli_events",
    "stdp_eligibility",
    "stdp_step_events",
    "stdp_traces",
    "three_factor_delta",
    "three_factor_delta_traces",
    "DiehlCookNet",
    "DiehlCookParams",
    "UNASSIGNED",
    "assign_labels",
    "class_rates",
    "dc_init",
    "dc_neuron_step",
    "normalize_incoming",
    "predict",
    "stdp_step_batched",
    "vote",
]
