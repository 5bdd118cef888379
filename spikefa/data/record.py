"""The data floor's records in the one validation style (`spikefa.schemas.validate.Validated`).

A bad field is a `DataError` (the data, or what was asked of them), one line:
``<where> key = value is not allowed; expected <what>``, where `where()` names the record
(``splits 'mnist' (images):``, ``load_dataset('nmnist'):``).
"""

from __future__ import annotations

from spikefa.errors import DataError
from spikefa.schemas.validate import FieldError, Validated


class DataRecord(Validated):
    """`Validated` whose errors are `DataError`s labelled by `where()` (default: ``LABEL``)."""

    def where(self) -> str:
        """The record named in messages, from its fields (override)."""
        return self.LABEL

    def __post_init__(self) -> None:
        try:
            super().__post_init__()
        except FieldError as err:
            raise DataError(str(err if err.label else err.labeled(self.where()))) from None


class Seen(str):
    """A value shown in a message as itself, without quotes (``float64 [4, 1, 2, 2]``)."""

    def __repr__(self) -> str:
        return str(self)
