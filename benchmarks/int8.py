"""The int8 suite: models trained here on real data, and the failure-class models of issue 15.

    python benchmarks/int8.py [--targets cpu,intel-cpu] [--out benchmarks/RESULTS.md]

Per model: pass or refuse per target, the winning quantization recipe, the key metric
(top-1 accuracy drop with labels, else the worst mean cosine) and int8 / fp32 latency
(batch 1, as ``compile`` measures it on each target). Models trained on sklearn's digits
(~1,400 train / 360 test images, seconds each): the digits CNN (committed weights), an MLP,
an LSTM over image rows, a small patch transformer. Failure classes: an opset-12 ONNX
Conv net (class 1), a Gemm with a broadcast [1, N] bias that crashes onnxruntime's
quantizer (class 2), a variable-length attention encoder (class 3), the quantization-
hostile digits CNN and a digits CNN calibrated on data with one outlier pixel (class 5).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

import edgekit  # noqa: E402
from examples.digits.data import load_split, write  # noqa: E402
from examples.digits.model import hostile, pretrained  # noqa: E402


class MLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(),
                                 nn.Linear(64, 10))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.net(image)


class RowLSTM(nn.Module):
    """Reads the 8x8 image as 8 rows of 8 pixels."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(8, 48, batch_first=True)
        self.head = nn.Linear(48, 10)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(image.reshape(image.shape[0], 8, 8))
        return self.head(out[:, -1])


class PatchTransformer(nn.Module):
    """16 patches of 2x2 pixels, one encoder layer, mean-pooled."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Linear(4, 32)
        self.pos = nn.Parameter(torch.zeros(1, 16, 32))
        self.encoder = nn.TransformerEncoderLayer(32, 4, 64, dropout=0.0, batch_first=True)
        self.head = nn.Linear(32, 10)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        n = image.shape[0]
        patches = image.reshape(n, 4, 2, 4, 2).permute(0, 1, 3, 2, 4).reshape(n, 16, 4)
        return self.head(self.encoder(self.embed(patches) + self.pos).mean(1))


def train(model: nn.Module, epochs: int = 30) -> nn.Module:
    torch.manual_seed(0)
    x, y = (torch.from_numpy(a) for a in load_split()["train"])
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(x))
        for s in range(0, len(x), 64):
            idx = order[s:s + 64]
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
    return model.eval()


def _onnx_models(root: Path) -> dict[str, Path]:
    """The failure-class ONNX graphs of tests/test_int8_guard.py, with their data."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    conv = helper.make_graph(
        [helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv", pads=[1, 1, 1, 1]),
         helper.make_node("Relu", ["c"], ["r"], name="relu"),
         helper.make_node("Conv", ["r", "w2"], ["y"], name="conv2", pads=[1, 1, 1, 1])],
        "opset12", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 1, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 4, 8, 8])],
        [numpy_helper.from_array(rng.normal(size=(8, 1, 3, 3)).astype(np.float32), "w"),
         numpy_helper.from_array(rng.normal(size=(8,)).astype(np.float32), "b"),
         numpy_helper.from_array((rng.normal(size=(4, 8, 3, 3)) * 0.3).astype(np.float32), "w2")])
    gemm = helper.make_graph(
        [helper.make_node("Gemm", ["x", "w", "c"], ["y"], name="fc", transB=1)], "gemm",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 10])],
        [numpy_helper.from_array((rng.normal(size=(10, 64)) * 0.3).astype(np.float32), "w"),
         numpy_helper.from_array(rng.normal(size=(1, 10)).astype(np.float32), "c")])
    out = {}
    for name, graph, opset in (("opset-12 conv (ONNX)", conv, 12), ("Gemm [1,N] bias (ONNX)", gemm, 17)):
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
        model.ir_version = 7
        path = root / f"{graph.name}.onnx"
        onnx.save(model, str(path))
        out[name] = path
    images = {s: load_split()[s][0] for s in ("train", "test")}
    np.savez(root / "conv-calib.npz", x=images["train"][:128])
    np.savez(root / "conv-eval.npz", x=images["test"])
    np.savez(root / "gemm-calib.npz", x=images["train"][:128].reshape(-1, 64))
    np.savez(root / "gemm-eval.npz", x=images["test"].reshape(-1, 64))
    return out


def _sequences(root: Path) -> tuple[nn.Module, Path, Path]:
    from tests.test_int8_sequences import TinyEncoder, _folder

    return (TinyEncoder().eval(), _folder(root / "seq-calib", [12, 13, 20, 7, 31, 16, 9, 24] * 8, 1),
            _folder(root / "seq-eval", [11, 13, 17, 29, 8, 21] * 8, 2))


def suite(root: Path) -> list[tuple[str, Callable[[], dict[str, Any]]]]:
    """(name, compile keyword arguments) per model; models are built when their turn comes."""
    train_npz, test_npz = write(root)
    outlier = root / "outlier-calib.npz"
    with np.load(train_npz) as d:
        images = d["image"][:128].copy()
    images[5, 0, 3, 3] = 300.0
    np.savez(outlier, image=images)
    digits = dict(example=(torch.zeros(1, 1, 8, 8),), dynamic=["image:0"], calibration=train_npz,
                  eval_data=test_npz)
    onnx_paths = _onnx_models(root)

    def torch_model(make: Callable[[], nn.Module], **extra: Any) -> Callable[[], dict[str, Any]]:
        def build() -> dict[str, Any]:
            torch.manual_seed(0)  # the initial weights too, so that trained rows repeat
            return {"model": make(), **digits, **extra}

        return build

    def sequences() -> dict[str, Any]:
        model, calib, evals = _sequences(root)
        return {"model": model, "example": (torch.zeros(1, 12, 16),), "dynamic": ["x:0", "x:1"],
                "calibration": calib, "eval_data": evals}

    return [
        ("digits CNN", torch_model(pretrained)),
        ("digits MLP", torch_model(lambda: train(MLP()))),
        ("digits LSTM over rows", torch_model(lambda: train(RowLSTM()))),
        ("digits LSTM over rows, int8-dynamic (class 7)", torch_model(lambda: train(RowLSTM()),
                                                                      precision="int8-dynamic")),
        ("digits patch transformer", torch_model(lambda: train(PatchTransformer(), epochs=40))),
        ("class 1: opset-12 conv (ONNX)", lambda: {"model": onnx_paths["opset-12 conv (ONNX)"],
                                                   "calibration": root / "conv-calib.npz",
                                                   "eval_data": root / "conv-eval.npz"}),
        ("class 2: Gemm [1,N] bias (ONNX)", lambda: {"model": onnx_paths["Gemm [1,N] bias (ONNX)"],
                                                     "calibration": root / "gemm-calib.npz",
                                                     "eval_data": root / "gemm-eval.npz"}),
        ("class 3: variable-length encoder", sequences),
        ("class 5: hostile digits CNN", torch_model(hostile)),
        ("class 5: digits CNN, outlier in calibration", torch_model(pretrained, calibration=outlier)),
    ]


def measure(name: str, kwargs: dict[str, Any], targets: str, out: Path) -> dict[str, Any]:
    model, example = kwargs.pop("model"), kwargs.pop("example", None)
    precision = kwargs.pop("precision", "int8")
    if precision != "int8":
        kwargs.pop("calibration", None)
    began = time.monotonic()
    try:
        art = edgekit.compile(model, example, target=targets, precision=precision, out=out, **kwargs)
    except edgekit.EdgekitError as err:
        return {"model": name, "error": err.message[:160], "seconds": time.monotonic() - began}
    q = art.manifest["quantization"]
    reports = json.loads((art.path / "parity.json").read_text())["reports"]
    row: dict[str, Any] = {"model": name, "seconds": time.monotonic() - began, "recipe": q.get("recipe", ""),
                           "recipes": len(q.get("recipes") or []), "fallback": len(q.get("fallback_nodes") or []),
                           "passed": art.parity.passed}
    acc = art.parity.accuracy
    row["metric"] = (f"top-1 acc {acc.reference:.2f}% -> {acc.candidate:.2f}%" if acc is not None else
                     "mean cosine " + f"{min(m.mean_cosine or 1.0 for m in art.parity.outputs):.5f}")
    for t in art.manifest["targets"]:
        speed = t.get("speed") or {}
        row[t["name"]] = (speed.get("ms"), speed.get("fp32_ms"), reports.get(t["name"], {}).get("passed"))
    return row


def table(rows: list[dict[str, Any]], targets: list[str]) -> str:
    head = "| model | verdict | winning recipe (tried) | float nodes by fallback | key metric | " + " | ".join(
        f"{t} int8 / fp32 ms" for t in targets) + " | compile s |"
    lines = [head, "|" + "---|" * (6 + len(targets))]
    for r in rows:
        if "error" in r:
            blank = " |" * (4 + len(targets))
            lines.append(f"| {r['model']} | ERROR: {r['error']} |{blank} {r['seconds']:.0f} |")
            continue
        cells = []
        for t in targets:
            ms, fp32, ok = r.get(t, (None, None, None))
            cells.append("" if ms is None else f"{ms:.3f} / {fp32:.3f} ({ms / fp32:.2f}x){'' if ok else ' refused'}")
        lines.append(f"| {r['model']} | {'pass' if r['passed'] else 'refused'} | {r['recipe']} ({r['recipes']}) | "
                     f"{r['fallback']} | {r['metric']} | " + " | ".join(cells) + f" | {r['seconds']:.0f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", default="cpu,intel-cpu")
    parser.add_argument("--only", default="", help="run only models whose name contains this")
    args = parser.parse_args()
    targets = args.targets.split(",")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for i, (name, make) in enumerate(suite(root)):
            if args.only and args.only not in name:
                continue
            rows.append(measure(name, make(), args.targets, root / f"m{i}.edgekit"))
            print(f"{name}: {rows[-1].get('passed', rows[-1].get('error'))}", file=sys.stderr)
    print(table(rows, targets))


if __name__ == "__main__":
    main()
