"""`nmnist-synth`: MNIST converted offline to N-MNIST-like events (`SaccadeConverter`), then binned.

Image i of the original MNIST order draws its randomness from (seed, i) (test images from
(seed, 60000 + i)), so a sample's events do not depend on batching, `limit` or `val_size`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch
from tqdm import tqdm

from spikefa.data.events.build import cached_build, to_splits
from spikefa.data.events.cache import fingerprint_files
from spikefa.data.events.convert import SaccadeConverter
from spikefa.data.events.frames import count_frames
from spikefa.data.mnist import DEFAULT_VAL_SIZE, IDX_STEMS, MNIST_CLASSES, find_idx_file, load_mnist
from spikefa.data.paths import require_dir, resolve_data_dir
from spikefa.data.request import DataRequest
from spikefa.data.splits import Splits

NAME = "nmnist-synth"
CHUNK = 256  # images converted at once (memory ~ CHUNK x 34 x 34 floats per simulated step)


@contextmanager
def one_torch_thread() -> Iterator[None]:
    """Run torch single-threaded inside, restoring the setting after.

    The simulation is hundreds of small tensor ops per image batch; on a shared 2-core machine two
    intra-op threads made it ~15x slower than one (6 vs 90 images/s), so the long dataset build
    uses one thread.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def convert_to_frames(
    converter: SaccadeConverter,
    images: torch.Tensor,
    time_steps: int,
    seed: int,
    first_index: int,
    bar: tqdm | None = None,
) -> np.ndarray:
    """Images [N, 1, 28, 28] -> uint8 frames [N, T, 2, H, W] over the recording, in chunks."""
    height, width = converter.sensor_hw
    out = np.zeros((images.shape[0], time_steps, 2, height, width), dtype=np.uint8)
    for start in range(0, images.shape[0], CHUNK):
        chunk = images[start : start + CHUNK]
        ev = converter.convert_flat(chunk, seed, first_index + start)
        columns = [c.numpy() for c in ev]
        shape = (time_steps, 2, height, width)
        out[start : start + chunk.shape[0]] = count_frames(
            columns[0], columns[1], columns[2], columns[3], columns[4],
            chunk.shape[0], shape, float(converter.duration_us),
        )  # fmt: skip
        if bar is not None:
            bar.update(chunk.shape[0])
    return out


def load_nmnist_synth(request: DataRequest) -> Splits:
    """MNIST (train 50k / val 10k / test 10k, as `load_dataset('mnist')`) as binned synthetic events."""
    converter = request.converter or SaccadeConverter()
    folder = require_dir("mnist", resolve_data_dir("mnist", request.data_dir))
    sources = sorted(find_idx_file("mnist", folder, stem) for pair in IDX_STEMS.values() for stem in pair)
    val_size = DEFAULT_VAL_SIZE if request.val_size is None else request.val_size
    settings = {
        "dataset": NAME,
        "converter": converter.settings(),
        "seed": request.seed,
        "time_steps": request.time_steps,
        "window_us": converter.duration_us,
        "val_size": val_size,
        "limit": request.limit,
        "sources": fingerprint_files(sources, folder, content=True),
    }

    def build() -> dict[str, np.ndarray]:
        mnist = load_mnist(request.data_dir, val_size)  # = load_dataset("mnist"); no registry cycle
        offsets = {"train": 0, "val": mnist.sizes()["train"], "test": 60_000}
        parts = {s: request.pick(n) for s, n in mnist.sizes().items()}
        arrays: dict[str, np.ndarray] = {}
        bar = tqdm(total=sum(parts.values()), desc=NAME, unit="img", disable=not request.progress)
        with bar, one_torch_thread():
            for split, n in parts.items():
                images = getattr(mnist, f"x_{split}")[:n]
                arrays[f"x_{split}"] = convert_to_frames(
                    converter, images, request.time_steps, request.seed, offsets[split], bar
                )
                arrays[f"y_{split}"] = getattr(mnist, f"y_{split}")[:n].numpy()
        return arrays

    arrays = cached_build(NAME, request, folder, settings, build)
    bin_ms = converter.duration_us / request.time_steps / 1000
    return to_splits(NAME, arrays, request.time_steps, bin_ms, 10, MNIST_CLASSES)
