"""Torch models as people write them (issue 14): structured outputs named from their keys and
fields or by ``output_names``, and forward keyword arguments pinned (``pin``) or given by name."""

from __future__ import annotations

import collections
import dataclasses
import json
import textwrap

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import edgekit  # noqa: E402
from edgekit.errors import InputError  # noqa: E402
from tests.conftest import run_cli  # noqa: E402

Pair = collections.namedtuple("Pair", ["scores", "embedding"])


@dataclasses.dataclass
class Result:
    logits: torch.Tensor
    hidden: torch.Tensor | None = None
    attentions: torch.Tensor | None = None  # left None: not an output


class _Net(torch.nn.Module):
    def __init__(self, form: str) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.a, self.b, self.form = torch.nn.Linear(6, 3), torch.nn.Linear(6, 4), form

    def forward(self, x):
        a, b = self.a(x), torch.tanh(self.b(x))
        if self.form == "namedtuple":
            return Pair(a, b)
        if self.form == "dataclass":
            return Result(a, b)
        if self.form == "nested":
            return (a, b), a.sum(-1)
        return {"scores": a, "embedding": b}


def _example():
    return (torch.from_numpy(np.random.default_rng(0).standard_normal((2, 6)).astype(np.float32)),)


@pytest.mark.parametrize("form,names", [("namedtuple", ["scores", "embedding"]), ("dataclass", ["logits", "hidden"]),
                                        ("nested", ["output_0_0", "output_0_1", "output_1"])])
def test_structured_outputs_are_flattened_and_named(tmp_path, form: str, names: list[str]) -> None:
    art = edgekit.compile(_Net(form).eval(), _example(), dynamic=["x:0"], out=tmp_path / "m.edgekit")
    assert art.passed, art.parity.summary()
    assert [s["name"] for s in art.manifest["signature"]["outputs"]] == names
    with edgekit.load(tmp_path / "m.edgekit") as runtime:
        got = runtime.run({"x": _example()[0].numpy()})
    assert list(got) == names and got[names[0]].shape[0] == 2


def test_output_names_rename_dict_outputs_and_count_is_checked(tmp_path) -> None:
    art = edgekit.compile(_Net("dict").eval(), _example(), output_names="boxes,features", out=tmp_path / "d.edgekit")
    assert [s["name"] for s in art.manifest["signature"]["outputs"]] == ["boxes", "features"]
    with pytest.raises(InputError, match="--output-names gives 3 name"):
        edgekit.compile(_Net("dict").eval(), _example(), output_names=["a", "b", "c"], out=tmp_path / "e.edgekit")


class _Masked(torch.nn.Module):
    """Optional keyword arguments: a tensor (mask) and a flag that changes what is returned."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.fc = torch.nn.Linear(6, 3)

    def forward(self, x, scale=None, mask=None, return_all=False):
        h = self.fc(x if mask is None else x * mask)
        h = h if scale is None else h * scale
        return (h, torch.relu(h)) if return_all else h


def test_pin_fixes_a_flag_and_tensor_kwargs_are_inputs_by_name(tmp_path) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 6)).astype(np.float32)
    mask = (rng.random((2, 6)) > 0.5).astype(np.float32)
    art = edgekit.compile(_Masked().eval(), inputs=["x:2x6", "mask:2x6"], pin={"return_all": True},
                          output_names=["h", "relu"], out=tmp_path / "p.edgekit")
    assert art.passed, art.parity.summary()
    assert [s["name"] for s in art.manifest["signature"]["inputs"]] == ["x", "mask"]  # mask skips over scale
    with edgekit.load(tmp_path / "p.edgekit") as runtime:
        got = runtime.run({"x": x, "mask": mask})
    model = _Masked().eval()
    want = model.fc(torch.from_numpy(x * mask)).detach().numpy()
    np.testing.assert_allclose(got["h"], want, atol=1e-5)
    assert set(got) == {"h", "relu"}
    with pytest.raises(InputError, match="forward\\(\\) has no argument 'verbose'"):
        edgekit.compile(_Masked().eval(), inputs=["x:2x6"], pin=["verbose=true"], out=tmp_path / "q.edgekit")
    with pytest.raises(InputError, match="'mask' is also an input"):
        edgekit.compile(_Masked().eval(), inputs=["x:2x6", "mask:2x6"], pin={"mask": None}, out=tmp_path / "r.edgekit")


@pytest.mark.slow
def test_cli_pin_and_output_names(tmp_path) -> None:
    (tmp_path / "wildmods.py").write_text(textwrap.dedent('''
        import torch

        class Masked(torch.nn.Module):
            def __init__(self):
                super().__init__()
                torch.manual_seed(0)
                self.fc = torch.nn.Linear(6, 3)

            def forward(self, x, mask=None, return_all=False):
                h = self.fc(x if mask is None else x * mask)
                return {"h": h, "relu": torch.relu(h)} if return_all else h

        def create():
            return Masked()
    '''))
    out = tmp_path / "cli.edgekit"
    proc = run_cli("compile", "wildmods:create", "--input", "x:1x6", "--dynamic", "x:0", "--pin", "return_all=true",
                   "--output-names", "logits,act", "--out", str(out), "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert [s["name"] for s in manifest["signature"]["outputs"]] == ["logits", "act"]
    bad = run_cli("compile", "wildmods:create", "--input", "x:1x6", "--pin", "return_all", "--out",
                  str(tmp_path / "bad.edgekit"), cwd=tmp_path)
    assert bad.returncode == 2 and "NAME=VALUE" in bad.stderr
