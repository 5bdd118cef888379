"""Training harness: runs in run directories, comparisons, benchmarks."""

from spikefa.train.config import RunConfig
from spikefa.train.loop import evaluate
from spikefa.train.run import resolve_config, resume, train

__all__ = ["RunConfig", "evaluate", "resolve_config", "resume", "train"]
