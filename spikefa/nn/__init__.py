"""Thin nn.Module shells: FA/sign-symmetry layers, DFA wiring, and build(card)."""

from spikefa.nn.dfa import DFASequential, split_blocks
from spikefa.nn.layers import FAConv2d, FALinear

__all__ = ["DFASequential", "FAConv2d", "FALinear", "split_blocks"]
