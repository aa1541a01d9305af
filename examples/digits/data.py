"""The digits data as edgekit DATA files: ``image`` arrays (N×1×8×8 float32) and ``labels``.

The split is fixed (seeded), so training, calibration and evaluation never mix.

    python -m examples.digits.data --out build/    # writes digits_train.npz, digits_test.npz
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

SEED = 0
TEST_FRACTION = 0.2


def load_split() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)[:, None, :, :]
    labels = digits.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(
        images, labels, test_size=TEST_FRACTION, random_state=SEED, stratify=labels
    )
    return {"train": (x_tr, y_tr), "test": (x_te, y_te)}


def write(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, (x, y) in load_split().items():
        path = out / f"digits_{name}.npz"
        np.savez(path, image=x, labels=y)
        paths.append(path)
    return paths


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("build"))
    for p in write(parser.parse_args().out):
        print(p)
