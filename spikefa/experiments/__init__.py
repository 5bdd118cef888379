"""Reproducible experiment sets: one command regenerates a published comparison."""

from spikefa.experiments.fa_hebbian import EXPERIMENTS, reproduce

__all__ = ["EXPERIMENTS", "reproduce"]
