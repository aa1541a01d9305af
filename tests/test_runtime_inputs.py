"""Runtime input checks: every malformed input is an InputError naming the signature."""

from __future__ import annotations

import numpy as np
import pytest

import edgekit
from edgekit.errors import InputError
from tests.conftest import assert_thread_safe


@pytest.fixture(scope="module")
def rt(digits_bundle):
    return edgekit.load(digits_bundle)


def good(batch: int = 2) -> np.ndarray:
    return np.random.default_rng(0).random((batch, 1, 8, 8), dtype=np.float32)


@pytest.mark.parametrize(
    ("feed", "needle"),
    [
        ({}, "missing input(s) image"),
        ({"image": good(), "extra": good()}, "unknown input(s) extra"),
        ({"image": good().astype(np.float64)}, "dtype float64"),
        ({"image": good()[0]}, "rank 3"),
        ({"image": np.zeros((2, 3, 8, 8), np.float32)}, "size 3 on axis 1"),
        ({"image": [["a"]]}, "cannot be read as float32"),
    ],
)
def test_bad_inputs_raise_input_error(rt, feed, needle) -> None:
    with pytest.raises(InputError) as info:
        rt.run(feed)
    assert needle in str(info.value)
    assert "image: float32[batch,1,8,8]" in str(info.value)


def test_not_a_dict(rt) -> None:
    with pytest.raises(InputError, match="dict of name"):
        rt.run([good()])


def test_lists_noncontiguous_and_wrong_endian_work(rt) -> None:
    x = good(3)
    want = rt.run({"image": x})["output"]
    np.testing.assert_array_equal(rt.run({"image": x.tolist()})["output"], want)
    strided = np.zeros((3, 1, 8, 16), np.float32)
    strided[..., ::2] = x
    np.testing.assert_array_equal(rt.run({"image": strided[..., ::2]})["output"], want)
    np.testing.assert_array_equal(rt.run({"image": x.astype(">f4")})["output"], want)


def test_signature_and_repr(rt) -> None:
    assert [str(s) for s in rt.inputs] == ["image: float32[batch,1,8,8]"]
    assert [str(s) for s in rt.outputs] == ["output: float32[batch,10]"]
    assert "onnxruntime" in repr(rt)


def test_threads_give_serial_results(rt) -> None:
    assert_thread_safe(rt, [{"image": good(1 + i % 3)} for i in range(8)])
