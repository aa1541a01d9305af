"""Tiny models and plans for the matrix tests (built with onnx.helper; numpy data)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

CRASH_MODULE = '''
import os
from pathlib import Path

import numpy as np


def _samples():
    rng = np.random.default_rng(0)
    for _ in range(16):
        yield {"x": rng.normal(size=(1, 64)).astype(np.float32)}


def data_always():
    """A data source that kills the process reading it, as a crashing model would."""
    os._exit(17)


def data_once():
    """Kills its process the first time (EDGEKIT_TEST_CRASH_ONCE names the marker file), then works."""
    mark = Path(os.environ["EDGEKIT_TEST_CRASH_ONCE"])
    if not mark.exists():
        mark.write_text("crashed once")
        os._exit(17)
    return _samples()
'''


def mlp_onnx(path: Path, seed: int = 0, scale: float = 0.2, samples: int = 64) -> Path:
    """A 64→32→10 ReLU MLP as ONNX, and ``<stem>.npz`` eval data (x, labels) beside it."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    w1 = (rng.normal(size=(64, 32)) * scale).astype(np.float32)
    w2 = (rng.normal(size=(32, 10)) * scale).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w1"], ["h"]), helper.make_node("Relu", ["h"], ["r"]),
         helper.make_node("MatMul", ["r", "w2"], ["y"])], "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 10])],
        [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(w2, "w2")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    x = rng.normal(size=(samples, 64)).astype(np.float32)
    np.savez(path.with_suffix(".npz"), x=x, labels=(np.maximum(x @ w1, 0) @ w2).argmax(1))
    return path


def write_crash_module(folder: Path) -> str:
    """Writes the importable module ``edgekit_test_crash`` into ``folder``; returns its name."""
    (folder / "edgekit_test_crash.py").write_text(CRASH_MODULE)
    return "edgekit_test_crash"
