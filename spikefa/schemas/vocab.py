"""The vocabularies of config fields, each stated once as a ``Literal`` (the type checker and
`spikefa.schemas.validate` both read it; ``choices(Reset)`` gives the tuple)."""

from __future__ import annotations

from typing import Literal

Activation = Literal["relu", "tanh", "sigmoid"]
Pool = Literal["max", "avg"]
LastPool = Literal["same", "avg2"]
"""A SoftHebb network's last pool: ``same`` as its other blocks (``pool``, window 4, stride 2, padding 1),
or ``avg2``, the reference's third block (average, window 2, stride 2, no padding)."""
Optimizer = Literal["adam", "sgd"]
Schedule = Literal["constant", "cosine"]
Reset = Literal["subtract", "zero", "none"]
"""LIF reset after a spike (snnTorch semantics): subtract θ, set U to zero, or none."""
Surrogate = Literal["atan", "fast-sigmoid"]
EncoderKind = Literal["rate", "latency", "direct"]
RateKind = Literal["bernoulli", "poisson"]
OnlineError = Literal["count", "membrane"]
"""What online DFA's broadcast error is the gradient of, at a broadcast step t: ``count`` (the
default), the cross-entropy of the running read-out (spike counts up to t, as `scores` reads the
network), through the surrogate of the output spikes; ``membrane``, the cross-entropy of the output
membranes U_L[t]."""
FeedbackDist = Literal["gaussian", "uniform"]
DataKind = Literal["images", "events"]
"""What a dataset's splits hold: ``images`` (float32 [N, C, H, W] in [0, 1]) or ``events`` (uint8
spike counts [N, T, C, H, W], binned into T time steps); `spikefa.data.splits.Splits` checks each."""
