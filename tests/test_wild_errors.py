"""Class 3 of issue 14: backend errors inside compile name stage and graph; every ONNX type maps or is refused."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from edgekit import onnxio
from edgekit.backends.onnxruntime.runtime import OnnxRuntime
from edgekit.compiler.guard import stage_errors
from edgekit.errors import InputError, InternalError
from edgekit.onnxtypes import numpy_dtype


@pytest.mark.parametrize("name,code", list(TensorProto.DataType.items()))
def test_every_onnx_type_maps_to_numpy_or_is_refused_by_name(name: str, code: int) -> None:
    try:
        dtype = numpy_dtype(code, "input 'x'")
    except InputError as err:
        assert name in str(err) and "input 'x'" in str(err)
    else:
        np.zeros(2, dtype=np.dtype(dtype))  # a dtype numpy really has


def _model(inputs, outputs, nodes=()):
    return helper.make_model(helper.make_graph(list(nodes), "g", inputs, outputs),
                             opset_imports=[helper.make_opsetid("", 17)])


def test_int4_input_is_refused_by_name() -> None:
    model = _model([helper.make_tensor_value_info("x", TensorProto.INT4, [2])],
                   [helper.make_tensor_value_info("y", TensorProto.INT4, [2])],
                   [helper.make_node("Identity", ["x"], ["y"])])
    with pytest.raises(InputError, match="input 'x' has ONNX element type INT4: ONNX packs it"):
        onnxio.graph_signature(model)


def test_sequence_input_is_refused_by_name() -> None:
    seq = helper.make_tensor_sequence_value_info("s", TensorProto.FLOAT, [2])
    model = _model([seq], [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])],
                   [helper.make_node("SequenceAt", ["s", "i"], ["y"])])
    with pytest.raises(InputError, match="input 's' is a sequence, not a tensor"):
        onnxio.graph_signature(model)


def _broken_reshape(tmp_path):
    """A graph as a faulty stage might produce it: a Reshape to a size the input never has."""
    shape = helper.make_tensor("shape", TensorProto.INT64, [2], [5, 7])
    model = _model([helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 6])],
                   [helper.make_tensor_value_info("y", TensorProto.FLOAT, [5, 7])],
                   [helper.make_node("Reshape", ["x", "shape"], ["y"])])
    model.graph.initializer.append(shape)
    path = tmp_path / "broken.onnx"
    onnx.save(model, str(path))
    return path


def test_backend_failure_on_edgekit_graph_is_internal_not_input_error(tmp_path) -> None:
    runtime = OnnxRuntime(_broken_reshape(tmp_path))
    feed = {"x": np.zeros((2, 6), np.float32)}
    with pytest.raises(InternalError) as info, stage_errors("stage attribution", "'simplify'"):
        runtime.run(feed)  # Runtime.run raises InputError caused by onnxruntime's own error
    text = str(info.value)
    assert "stage attribution" in text and "'simplify' graph" in text and "Reshape" in text
    assert info.value.exit_code == 1 and "bug in edgekit" in text
    with pytest.raises(InternalError, match="int8 quantization: .*int8 quantized graph"), \
            stage_errors("int8 quantization", "int8 quantized"):
        runtime._run(feed)  # the raw onnxruntime exception


def test_users_own_data_error_passes_through_unchanged() -> None:
    with pytest.raises(InputError, match="holds no samples"), stage_errors("parity check of target cpu", "cpu"):
        raise InputError("eval.npz holds no samples")
