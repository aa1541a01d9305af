"""NNCF vs onnxruntime int8 on the digits CNN, clean and with one outlier calibration pixel.

    pip install nncf && python benchmarks/nncf_digits.py

Prints, per quantizer: top-1 agreement with fp32, test accuracy, mean and min cosine of the logits.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import nncf  # noqa: E402
import numpy as np  # noqa: E402
import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
import torch  # noqa: E402
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, quantize_static  # noqa: E402

from examples.digits.data import load_split  # noqa: E402
from examples.digits.model import pretrained  # noqa: E402


def run(path: Path, x: np.ndarray) -> np.ndarray:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"image": x})[0]


class Reader(CalibrationDataReader):
    def __init__(self, calib: np.ndarray) -> None:
        self.batches = [calib[i:i + 8] for i in range(0, len(calib), 8)]

    def get_next(self) -> dict[str, np.ndarray] | None:
        return {"image": self.batches.pop(0)} if self.batches else None


def main() -> None:
    split = load_split()
    (train, _), (test, labels) = split["train"], split["test"]
    tmp = Path(tempfile.mkdtemp())
    fp32 = tmp / "digits.onnx"
    torch.onnx.export(pretrained(), (torch.zeros(1, 1, 8, 8),), str(fp32), dynamo=False, input_names=["image"],
                      output_names=["logits"], dynamic_axes={"image": {0: "n"}, "logits": {0: "n"}})
    ref = run(fp32, test)
    for label in ("clean", "outlier"):
        calib = train[:128].copy()
        if label == "outlier":
            calib[5, 0, 3, 3] = 300.0
        data = nncf.Dataset([calib[i:i + 1] for i in range(len(calib))], lambda x: {"image": x})
        onnx.save(nncf.quantize(onnx.load(str(fp32)), data, subset_size=len(calib)), str(tmp / "nncf.onnx"))
        quantize_static(str(fp32), str(tmp / "ort.onnx"), Reader(calib), quant_format=QuantFormat.QDQ,
                        per_channel=True, op_types_to_quantize=["Conv", "Gemm", "MatMul"],
                        extra_options={"WeightSymmetric": True})
        for name in ("nncf", "ort"):
            out = run(tmp / f"{name}.onnx", test)
            cos = (out * ref).sum(1) / np.linalg.norm(out, axis=1) / np.linalg.norm(ref, axis=1)
            print(f"{label:8s} {name:5s} top-1 agreement {(out.argmax(1) == ref.argmax(1)).mean():.4f} "
                  f"accuracy {(out.argmax(1) == labels).mean():.4f} mean cosine {cos.mean():.5f} "
                  f"min cosine {cos.min():.5f}")


if __name__ == "__main__":
    main()
