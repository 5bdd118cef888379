"""The resolved configuration of one training run: a frozen, validated record.

It holds the model card's TOML mapping as the run resolved it (``card``), so a run directory is
the one truth about its network: resume and export rebuild from it, never from a card file that
may have changed since.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Mapping

from spikefa.errors import ConfigError
from spikefa.schemas.validate import Validated, require
from spikefa.schemas.vocab import Optimizer, Schedule


@dataclass(frozen=True)
class RunConfig(Validated):
    """Everything that decides a run's result; written to ``config.json`` in the run directory.

    ``model`` is the card's name, ``card`` its mapping (`spikefa.schemas.card.parse_card` reads it).
    ``checkpoint_every`` > 0 also checkpoints every that many steps inside an epoch (long STDP
    epochs); 0 checkpoints at the end of each epoch only. ``qat`` is ``PROFILE[:BITS]``; ``state_bits``
    (QAT only) the membrane's width in bits, narrower than the profile's (MINT, Yin et al. 2023: the
    state shares the weights' scale); None keeps the profile's width (and reads runs written before
    the field). ``qat_freeze`` > 0 turns on iterative weight freezing (Nagel et al. 2022): a weight
    whose integer value oscillates more often than that frequency is frozen; the threshold follows a
    cosine to ``qat_freeze_final`` over the run. ``init_from`` names a finished run directory whose trained weights the run starts
    from instead of the seed's initialisation (fine-tuning; QAT after float training); the seed still
    draws everything else. ``distill`` > 0 adds knowledge distillation from the float network of
    ``distill_from`` (default: ``init_from``'s weights without QAT; a QAT run continued from a QAT run
    names its float run here) (Hinton, Vinyals & Dean 2015): the loss is (1 − α)·CE(z, y) + α·τ²·KL(softmax(z_t/τ)
    ‖ softmax(z/τ)), α = ``distill``, τ = ``distill_temperature``, z the student's class scores and z_t
    the teacher's on the same spikes.
    """

    UNCHECKED = ("rule_options", "card")

    model: str
    rule: str
    dataset: str
    feedback: str | None = None
    rule_options: Mapping[str, Any] = field(default_factory=dict)
    data_dir: str | None = None
    epochs: int = 10
    seed: int = 0
    batch_size: int = 128
    optimizer: Optimizer = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    momentum: float = 0.9
    schedule: Schedule = "cosine"
    standardize: bool = True
    align_every: int = 100
    limit_train: int | None = None
    limit_eval: int | None = None
    val_size: int | None = None  # training examples held out for validation (None: the dataset's default)
    device: str = "cpu"
    qat: str | None = None  # "PROFILE[:BITS]": train through the target's fake quantization
    state_bits: int | None = None  # QAT's membrane width in bits (None: the profile's)
    qat_freeze: float = 0.0  # QAT: oscillation threshold f_th above which a weight freezes (0: off)
    qat_freeze_final: float | None = None  # f_th at the end of the run (cosine from qat_freeze; None: constant)
    checkpoint_every: int = 0
    init_from: str | None = None  # a finished run directory whose weights this run starts from
    distill: float = 0.0  # α: the weight of the distillation term from the teacher's float network
    distill_from: str | None = None  # the teacher: a finished float run (None: init_from's weights, without QAT)
    distill_temperature: float = 1.0  # τ of the softened class scores
    card: Mapping[str, Any] | None = None

    def check(self) -> None:
        for key in ("epochs", "batch_size", "lr"):
            require(key, getattr(self, key), getattr(self, key) > 0, "a number > 0")
        require("weight_decay", self.weight_decay, self.weight_decay >= 0, "a number >= 0")
        require("momentum", self.momentum, 0 <= self.momentum < 1, "a number in [0, 1)")
        require("align_every", self.align_every, self.align_every >= 0,
                "an integer >= 0 (0 turns alignment logging off)")
        require("checkpoint_every", self.checkpoint_every, self.checkpoint_every >= 0,
                "an integer >= 0 (0: checkpoint after each epoch only)")
        if self.qat is not None:
            name, _, bits = self.qat.partition(":")
            require("qat", self.qat, bool(name) and (not bits or bits.isdigit()),
                    "PROFILE or PROFILE:BITS, e.g. int8-edge:4")
        if self.state_bits is not None:
            require("state_bits", self.state_bits, self.qat is not None,
                    "nothing without qat (the membrane width of quantisation-aware training: --qat PROFILE "
                    "--state-bits B)")
            require("state_bits", self.state_bits, self.state_bits >= 3, "an integer >= 3 (bits of the membrane state)")
        require("qat_freeze", self.qat_freeze, 0 <= self.qat_freeze < 1,
                "a number in [0, 1) (the oscillation frequency above which a weight freezes; 0 turns freezing off)")
        require("qat_freeze", self.qat_freeze, not self.qat_freeze or self.qat is not None,
                "0 without qat (weight freezing is part of quantisation-aware training: --qat PROFILE)")
        if self.qat_freeze_final is not None:
            require("qat_freeze_final", self.qat_freeze_final, 0 < self.qat_freeze_final < 1 and self.qat_freeze > 0,
                    "a number in (0, 1), with qat_freeze > 0 (the threshold the cosine ends at)")
        if self.init_from is not None:
            require("init_from", self.init_from, isinstance(self.init_from, str) and bool(self.init_from.strip()),
                    "a run directory made by `spikefa train`")
        require("distill", self.distill, 0 <= self.distill <= 1, "a number in [0, 1] (the distillation term's weight α)")
        require("distill", self.distill, self.distill == 0 or self.init_from is not None or self.distill_from is not None,
                "0 without a teacher (--init-from RUN_DIR: the float run the student starts from, or --distill-from "
                "RUN_DIR)")
        if self.distill_from is not None:
            require("distill_from", self.distill_from, isinstance(self.distill_from, str) and bool(self.distill_from.strip())
                    and self.distill > 0, "a run directory made by `spikefa train`, with distill > 0")
        require("distill_temperature", self.distill_temperature, self.distill_temperature > 0, "a number > 0")
        for key in ("limit_train", "limit_eval", "val_size"):
            value = getattr(self, key)
            require(key, value, value is None or value >= 1, "an integer >= 1 or nothing")

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["rule_options"] = dict(self.rule_options)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "config") -> RunConfig:
        known = {f.name for f in fields(cls)}
        renamed = {"normalize": "standardize"}  # run directories written before the rename
        data = {renamed.get(k, k): v for k, v in data.items()}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"{source}: unknown key {unknown[0]!r}; allowed: {', '.join(sorted(known))}")
        return cls(**dict(data))
