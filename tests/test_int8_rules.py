"""Rules that know each output (issue 15, class 4): task agreement and robust statistics,
per kind, per channel for packed heads; the worst sample is reported, not gated on alone."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import torch
from onnx import TensorProto, helper, numpy_helper

from edgekit.data.sources import Batch
from edgekit.parity.compare import compare
from edgekit.parity.metrics import ParityRule, rule_for
from examples.digits.data import load_split
from examples.digits.model import pretrained

OLD_INT8_RULE = ParityRule(min_cosine=0.99, min_top1=0.98, max_accuracy_drop=1.0)  # before issue 15


def _compare(ref: np.ndarray, cand: np.ndarray, rule: ParityRule, name: str = "output_0",
             labels: np.ndarray | None = None, chunk: int = 50):
    batches = [Batch({"i": np.arange(s, min(s + chunk, len(ref)))}, None if labels is None else
                     labels[s:s + chunk], min(chunk, len(ref) - s)) for s in range(0, len(ref), chunk)]
    return compare(lambda f: {name: ref[f["i"]]}, lambda f: {name: cand[f["i"]]}, batches, [name], "int8", rule,
                   data_description="test", reference_description="ref", candidate_description="cand").report


def _fake_int8(model: torch.nn.Module) -> torch.nn.Module:
    """The model with every weight rounded to a symmetric per-channel int8 grid."""
    with torch.no_grad():
        for p in model.parameters():
            if p.ndim > 1:
                scale = p.abs().amax(dim=tuple(range(1, p.ndim)), keepdim=True) / 127
                p.copy_(torch.round(p / scale) * scale)
    return model


def test_digits_classifier_with_one_low_cosine_sample_passes() -> None:
    images, labels = load_split()["test"]
    with torch.no_grad():
        ref = pretrained()(torch.from_numpy(images)).numpy()
        cand = _fake_int8(pretrained())(torch.from_numpy(images)).numpy()
    # One sample's logits bent to cosine ~0.985 while its decision stays the same.
    i = 7
    bent = cand[i].copy()
    top = bent.argmax()
    bent[[c for c in range(10) if c != top][:3]] += 0.25 * np.abs(bent).max()
    assert bent.argmax() == top
    cand[i] = bent
    cos = float(ref[i] @ cand[i] / np.linalg.norm(ref[i]) / np.linalg.norm(cand[i]))
    assert cos < 0.99
    new = _compare(ref, cand, rule_for("int8"), labels=labels)
    old = _compare(ref, cand, OLD_INT8_RULE, labels=labels)
    m = new.outputs[0]
    assert m.kind == "logits" and m.top1_agreement == 1.0
    assert new.passed, new.failures
    assert m.worst_sample == i and m.min_cosine < 0.99  # reported…
    assert not old.passed and "cosine" in old.failures[0]  # …where the old rule refused on it alone
    assert new.accuracy is not None and new.accuracy.drop <= 1.0


def test_regression_head_is_not_judged_on_top1() -> None:
    """Landmark-like coordinates: channel 9 always sits just above channel 8, so the argmax
    never moves in the reference and flips on noise far below the coordinates' spread."""
    rng = np.random.default_rng(0)
    base = rng.uniform(20, 200, size=10)
    ref = base + 10.0 * rng.normal(size=(200, 10))
    ref[:, 8] = 300 + 10.0 * rng.normal(size=200)
    ref[:, 9] = ref[:, 8] + 0.5
    cand = ref + 0.5 * rng.normal(size=ref.shape)
    report = _compare(ref, cand, rule_for("int8"))
    m = report.outputs[0]
    assert m.kind == "regression", m.kind_reason
    assert m.top1_agreement < 0.9
    assert report.passed, report.failures
    assert not _compare(ref, cand, OLD_INT8_RULE).passed  # top-1 over a meaningless argmax
    # The same head really broken on one coordinate fails, on that channel.
    broken = cand.copy()
    broken[:, 3] += 8.0 * rng.normal(size=200)
    failed = _compare(ref, broken, rule_for("int8"))
    assert not failed.passed and "channel 3 " in "; ".join(failed.failures)


def _qdq_packed(ref: np.ndarray) -> np.ndarray:
    """What per-tensor uint8 activation quantization does to a packed output, run in onnxruntime."""
    scale = float(ref.max()) / 255
    graph = helper.make_graph(
        [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"]),
         helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"])], "qdq",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(ref.shape))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(ref.shape))],
        [numpy_helper.from_array(np.array(scale, np.float32), "s"),
         numpy_helper.from_array(np.array(0, np.uint8), "z")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": ref.astype(np.float32)})[0]


def test_packed_detection_head_fails_on_the_score_channel() -> None:
    rng = np.random.default_rng(0)
    boxes = rng.uniform(0, 320, size=(64, 100, 4))
    scores = 1 / (1 + np.exp(-rng.normal(0, 2, size=(64, 100, 2))))
    ref = np.concatenate([boxes, scores], axis=2).astype(np.float32)
    cand = _qdq_packed(ref)
    assert _compare(ref, cand, OLD_INT8_RULE).passed  # the whole-tensor cosine hides the scores
    report = _compare(ref, cand, rule_for("int8"))
    m = report.outputs[0]
    assert m.kind == "packed" and m.worst_channel_axis == 2, m.kind_reason
    assert m.worst_channel in (4, 5) and m.worst_channel_snr_db < 20
    assert m.mean_cosine > 0.999  # the tensor as a whole looks fine
    assert not report.passed
    assert any("channel 4" in f or "channel 5" in f for f in report.failures), report.failures


def test_sequence_classes_are_judged_per_position() -> None:
    """A CTC-like [N, T, C] log-probability output: a flattened top-1 would see one decision."""
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(32, 40, 12)) * 3
    ref = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    good = ref + 0.01 * rng.normal(size=ref.shape)
    bad = ref.copy()
    flip = rng.random((32, 40)) < 0.1
    bad[flip] = bad[flip][:, ::-1]
    ok = _compare(ref, good, rule_for("int8"))
    assert ok.outputs[0].kind == "sequence-classes" and ok.passed, ok.failures
    failed = _compare(ref, bad, rule_for("int8"))
    assert not failed.passed
    assert any("per-position argmax agreement" in f for f in failed.failures), failed.failures
