"""scikit-learn's bundled 8 x 8 digits (UCI optdigits test set): the offline dataset, no download.

1,797 images, 17 grey levels (0..16), scaled to [0, 1] by dividing by 16. Deterministic split from
one seeded permutation: test = 360 (20 %), val = 288 (20 % of the remaining 1,437), train = 1,149.
"""

from __future__ import annotations

import math
import os

import numpy as np
import torch

from spikefa.data.splits import Splits, check_val_size, to_images, to_labels

SEED = 0
TEST_FRACTION = 0.2
VAL_FRACTION = 0.2
IMAGE_SHAPE = (1, 8, 8)
NUM_CLASSES = 10


def split_indices(n: int, val_size: int | None, seed: int = SEED) -> tuple[torch.Tensor, ...]:
    """(train, val, test) index tensors from one permutation drawn with `torch.Generator(seed)`."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_test = math.ceil(n * TEST_FRACTION)
    n_rest = n - n_test
    n_val = math.ceil(n_rest * VAL_FRACTION) if val_size is None else val_size
    n_val = check_val_size("digits", n_val, n_rest)
    test, val, train = order[:n_test], order[n_test : n_test + n_val], order[n_test + n_val :]
    return train.sort().values, val.sort().values, test.sort().values


def load_digits(
    data_dir: str | os.PathLike[str] | None = None, val_size: int | None = None, seed: int = SEED
) -> Splits:
    """Digits splits 1,149 / 288 / 360; `data_dir` is ignored (the data ship with scikit-learn)."""
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    images = to_images(np.asarray(bunch.images, dtype=np.float32)[:, None], scale=16.0)
    labels = to_labels(bunch.target)
    train, val, test = split_indices(labels.shape[0], val_size, seed)
    return Splits(
        name="digits",
        kind="images",
        x_train=images[train],
        y_train=labels[train],
        x_val=images[val],
        y_val=labels[val],
        x_test=images[test],
        y_test=labels[test],
        input_shape=IMAGE_SHAPE,
        num_classes=NUM_CLASSES,
        classes=tuple(str(d) for d in range(NUM_CLASSES)),
    )
