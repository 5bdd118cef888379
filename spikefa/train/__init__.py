"""Training harness: runs in run directories, comparisons, benchmarks."""

from spikefa.schemas.run import RunConfig
from spikefa.train.loop import evaluate
from spikefa.train.run import Interrupted, resolve_config, resume, train

__all__ = ["Interrupted", "RunConfig", "evaluate", "resolve_config", "resume", "train"]
