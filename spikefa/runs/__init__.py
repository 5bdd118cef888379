"""The run directory, one floor below the harness (`spikefa.train`) and the exporters
(`spikefa.export`): its config (with the resolved model card), its checkpoint, and the network it
holds. Neither floor above imports the other; both read runs through here."""

from spikefa.runs.checkpoint import CHECKPOINT, load_checkpoint, save_checkpoint
from spikefa.runs.model import ModelTransform, card_of, load_run, make_model, resolve_config

__all__ = ["CHECKPOINT", "ModelTransform", "card_of", "load_checkpoint", "load_run", "make_model", "resolve_config",
           "save_checkpoint"]
