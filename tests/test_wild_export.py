"""Exports whose outcome depended on process state (issue 14, class 6): a CRNN text recogniser
with a dynamic width. torch.onnx swaps in a while_loop LSTM decomposition for dynamic shapes
without clearing the op's dispatch cache, so after one trace every later export in the process
unrolled the LSTM over the example width and baked it into a Reshape."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edgekit.compiler.export import ExportError, export  # noqa: E402
from edgekit.signature import TensorSpec  # noqa: E402

CRNN = textwrap.dedent('''
    import numpy as np, torch
    from torch import nn

    class BLSTM(nn.Module):
        def __init__(self, nin, nh, nout):
            super().__init__()
            self.rnn = nn.LSTM(nin, nh, bidirectional=True)
            self.emb = nn.Linear(nh * 2, nout)

        def forward(self, x):
            rec, _ = self.rnn(x)
            steps, b, h = rec.size()
            return self.emb(rec.view(steps * b, h)).view(steps, b, -1)

    class CRNN(nn.Module):
        """conv stack -> height-collapsing adaptive pool -> (W, B, C) -> two BLSTMs -> per-step logits."""
        def __init__(self):
            super().__init__()
            self.conv = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                      nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d((2, 1)),
                                      nn.AdaptiveAvgPool2d((1, None)))
            self.rnn = nn.Sequential(BLSTM(16, 12, 12), BLSTM(12, 12, 11))

        def forward(self, x):
            return self.rnn(self.conv(x).squeeze(2).permute(2, 0, 1))
''')

SCRIPT = CRNN + textwrap.dedent('''
    import sys, tempfile
    from pathlib import Path
    import onnxruntime as ort
    from edgekit.compiler.export import export
    from edgekit.signature import TensorSpec

    torch.manual_seed(0)
    model = CRNN().eval()
    rng = np.random.default_rng(0)
    # Two compiles in one fresh process, the second at another width; then a degenerate example
    # (width 3: a sequence of 1 after pooling, which torch.export specialises) re-exported at 4.
    for width, second in ((32, 40), (24, 32), (3, 4)):
        specs = [TensorSpec("x", (1, 1, 32, "width"), "float32")]
        feed = {"x": rng.standard_normal((1, 1, 32, width)).astype(np.float32)}
        varied = {"x": rng.standard_normal((1, 1, 32, second)).astype(np.float32)}
        result = export(model, "module", specs, feed, varied, ["logits"], Path(tempfile.mkdtemp()))
        session = ort.InferenceSession(str(result.path))
        for other in (16, 40):
            (out,) = session.run(None, {"x": np.zeros((1, 1, 32, other), np.float32)})
            assert out.shape == (other // 2, 1, 11), out.shape
        sys.stdout.write(f"RESULT {width} {result.exporter} {len(result.attempts)}\\n")
''')


@pytest.mark.slow
def test_crnn_dynamic_width_exports_on_every_compile_of_a_fresh_process(tmp_path) -> None:
    script = tmp_path / "crnn_twice.py"
    script.write_text(SCRIPT)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    results = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert results == ["RESULT 32 dynamo 1", "RESULT 24 dynamo 1", "RESULT 3 dynamo 3"]


class _KthValue(torch.nn.Module):
    """An op with no ONNX conversion in either exporter."""

    def forward(self, x):
        return torch.kthvalue(x, 2, dim=1).values[:, None] + x


def test_export_failure_names_each_exporter_and_the_options(tmp_path, capfd) -> None:
    specs = [TensorSpec("x", ("batch", 5), "float32")]
    rng = np.random.default_rng(0)
    feed = {"x": rng.standard_normal((2, 5)).astype(np.float32)}
    varied = {"x": rng.standard_normal((3, 5)).astype(np.float32)}
    with pytest.raises(ExportError) as info:
        export(_KthValue().eval(), "module", specs, feed, varied, ["output"], tmp_path)
    message, note = str(info.value), info.value.note or ""
    assert "dynamo exporter:" in message and "torchscript exporter:" in message
    assert "--dynamic" in note and "--opset" in note and "export it to .onnx yourself" in note
    out, err = capfd.readouterr()
    assert "Torch IR graph" not in out + err and not out  # torch's C++ prints stay off the terminal


def test_padded_text_encoder_from_a_batch_1_example_exports_with_dynamic_batch_and_length(tmp_path) -> None:
    """A batch-1 example: torch.export specialises the batch dim to 1 and TorchScript bakes the
    length into MultiheadAttention's Reshape, so both exporters' graphs run at the example size only;
    the retry at the second probe size gives a graph that runs at every batch and length."""
    import torch
    from torch import nn

    import edgekit

    class Encoder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = nn.Embedding(50, 16)
            layer = nn.TransformerEncoderLayer(16, 2, 32, batch_first=True, dropout=0.0)
            self.enc = nn.TransformerEncoder(layer, 1, enable_nested_tensor=False)

        def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            h = self.enc(self.emb(ids), src_key_padding_mask=mask == 0)
            m = mask.unsqueeze(-1).to(h.dtype)
            return (h * m).sum(1) / m.sum(1).clamp(min=1)

    torch.manual_seed(0)
    model = Encoder().eval()
    example = (torch.randint(1, 50, (1, 12)), torch.ones(1, 12, dtype=torch.long))
    art = edgekit.compile(model, example, dynamic=["ids:0", "ids:1", "mask:0", "mask:1"], target="cpu",
                          out=tmp_path / "enc.edgekit")
    assert art.passed
    rng = np.random.default_rng(0)
    with edgekit.load(art.path) as rt:
        for batch, length in ((3, 9), (2, 17)):
            ids = rng.integers(1, 50, size=(batch, length))
            mask = np.ones((batch, length), np.int64)
            mask[0, -2:] = 0
            got = rt.run({"ids": ids, "mask": mask})
            with torch.no_grad():
                want = model(torch.from_numpy(ids), torch.from_numpy(mask)).numpy()
            np.testing.assert_allclose(next(iter(got.values())), want, atol=1e-4)
