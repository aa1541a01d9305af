"""Benchmark helpers: compile a zoo model at a precision, with data that exists on any machine."""

from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np
import torch

import edgekit


def random_images(n: int, shape: tuple[int, ...], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, *shape[1:])).astype(np.float32)


def compile_at(model: torch.nn.Module, example: tuple[torch.Tensor, ...], precision: str, out: Path,
               target: str = "cpu", dynamic: list[str] | None = None) -> edgekit.Artifact:
    """Builds a bundle. int8 calibrates on 32 seeded random samples: these zoo models have random
    weights and no dataset, so real-data accuracy is not what these benchmarks measure."""
    calib, evals = zoo_data(model, example)
    return edgekit.compile(model, example, target=target, precision=precision, dynamic=dynamic,
                           calibration=calib if precision == "int8" else None, eval_data=evals, out=out,
                           force=True)


def zoo_data(model: torch.nn.Module, example: tuple[torch.Tensor, ...]) -> tuple[list[dict], list[dict]]:
    """Seeded calibration (32 samples; 16 token sequences) and eval (8) feeds shaped like ``example``."""
    name = next(iter(inspect.signature(model.forward).parameters))
    arr = example[0].numpy()
    rng = np.random.default_rng(1)
    if np.issubdtype(arr.dtype, np.integer):
        calib = [{name: rng.integers(0, int(arr.max()) + 1, size=arr.shape).astype(arr.dtype)} for _ in range(16)]
        evals = [{name: rng.integers(0, int(arr.max()) + 1, size=arr.shape).astype(arr.dtype)} for _ in range(8)]
    else:
        calib = [{name: random_images(arr.shape[0], arr.shape, 10 + i)} for i in range(32)]
        evals = [{name: random_images(arr.shape[0], arr.shape, 100 + i)} for i in range(8)]
    return calib, evals


def dir_size(path: Path) -> int:
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())
