"""Model files that can run code when loaded are refused without --allow-pickle (issue 12, critical 1).

Each payload is real: it would write (or overwrite) a marker file if its loader ran.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest
import torch

from edgekit.cli import main
from edgekit.errors import InputError
from edgekit.models.loader import load_source, read_state_dict
from examples.zoo import SMALL_MODELS
from tests.conftest import ROOT, run_cli

ORIGINAL = b"untouched"


class _Payload:
    """Unpickling this writes the marker file: what any pickle can do."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'wb').write(b'pwned')",))


def _marker(tmp_path: Path) -> Path:
    marker = tmp_path / "marker"
    marker.write_bytes(ORIGINAL)
    return marker


def _torchscript_payload(tmp_path: Path, marker: Path) -> Path:
    """A TorchScript module whose __setstate__ overwrites ``marker`` while torch.jit.load runs."""
    source = tmp_path / "evil_ts.py"
    source.write_text(textwrap.dedent(f"""
        import torch
        from typing import List

        class M(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.path = {str(marker)!r}
                self.n = 0

            def forward(self, x):
                return x + 1

            @torch.jit.export
            def __getstate__(self) -> List[str]:
                return [self.path]

            @torch.jit.export
            def __setstate__(self, state: List[str]) -> None:
                self.path = state[0]
                self.training = False
                t = torch.from_file(self.path, True, 5, dtype=torch.uint8)
                t.fill_(66)
                self.n = int(t.sum())

        torch.jit.script(M()).save({str(tmp_path / 'evil.pt')!r})
    """))
    subprocess.run([sys.executable, str(source)], check=True, cwd=tmp_path)
    marker.write_bytes(ORIGINAL)  # saving ran __getstate__ only; start from a clean marker
    return tmp_path / "evil.pt"


def _pt2_payload(tmp_path: Path, marker: Path) -> Path:
    """A real torch.export program with a pickled payload in its archive."""
    module, example, _ = SMALL_MODELS["mlp"]()
    path = tmp_path / "evil.pt2"
    torch.export.save(torch.export.export(module, example), str(path))
    with zipfile.ZipFile(path, "a") as archive:
        buffer = io.BytesIO()
        torch.save(_Payload(marker), buffer)
        name = next(n for n in archive.namelist() if n.endswith("archive_format")).rsplit("/", 1)[0]
        archive.writestr(f"{name}/data/constants/opaque_obj_0.pt", buffer.getvalue())
    return path


def _pickle_payload(tmp_path: Path, marker: Path) -> Path:
    path = tmp_path / "evil.pth"
    torch.save(_Payload(marker), str(path))
    return path


PAYLOADS = {"torchscript": _torchscript_payload, "pt2": _pt2_payload, "pickle": _pickle_payload}


@pytest.fixture(scope="module")
def payloads(tmp_path_factory) -> tuple[Path, dict[str, Path]]:
    """Each payload built once; every test starts from a fresh marker."""
    tmp = tmp_path_factory.mktemp("payloads")
    marker = _marker(tmp)
    return marker, {kind: make(tmp, marker) for kind, make in PAYLOADS.items()}


@pytest.fixture()
def marker(payloads) -> Path:
    payloads[0].write_bytes(ORIGINAL)
    return payloads[0]


def test_torchscript_load_runs_code_from_the_file(payloads, marker) -> None:
    """Why TorchScript is gated at all: torch.jit.load itself overwrites the marker."""
    torch.jit.load(str(payloads[1]["torchscript"]))
    assert marker.read_bytes() != ORIGINAL


@pytest.mark.parametrize("kind", sorted(PAYLOADS))
def test_code_carrying_model_files_are_refused_without_allow_pickle(payloads, marker, kind) -> None:
    with pytest.raises(InputError, match="--allow-pickle"):
        load_source(str(payloads[1][kind]))
    assert marker.read_bytes() == ORIGINAL


def test_weights_with_a_payload_never_unpickle_it(tmp_path) -> None:
    marker = _marker(tmp_path)
    path = tmp_path / "weights.pt"
    torch.save({"layer.weight": torch.zeros(1), "evil": _Payload(marker)}, str(path))
    with pytest.raises(InputError, match="refused for safety"):
        read_state_dict(path)
    assert marker.read_bytes() == ORIGINAL


@pytest.mark.parametrize("command", ["compile", "check", "bench"])
@pytest.mark.parametrize("kind", sorted(PAYLOADS))
def test_cli_refuses_payloads_in_one_line(capsys, tmp_path, digits_bundle, payloads, marker, command, kind) -> None:
    path = payloads[1][kind]
    args = {"compile": ["compile", str(path), "--input", "x:1x4", "--out", str(tmp_path / "o.edgekit")],
            "check": ["check", str(digits_bundle), "--against", str(path)],
            "bench": ["bench", str(digits_bundle), "--against", str(path), "--iterations", "1"]}[command]
    assert main(args) == 2
    err = capsys.readouterr().err
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert lines[-1].startswith("error: ") and "--allow-pickle" in lines[-1], err
    assert "Traceback" not in err
    assert marker.read_bytes() == ORIGINAL
    assert not (tmp_path / "o.edgekit").exists()


def test_cli_exit_code_in_a_real_process(tmp_path, payloads, marker) -> None:
    proc = run_cli("compile", str(payloads[1]["torchscript"]), "--out", str(tmp_path / "o.edgekit"), cwd=ROOT)
    assert proc.returncode == 2 and "--allow-pickle" in proc.stderr.strip().splitlines()[-1]
    assert marker.read_bytes() == ORIGINAL


@pytest.mark.parametrize("kind", ["fifo", "dir", "long", "chardev"])
def test_model_that_is_not_a_regular_file_fails_without_hanging(tmp_path, kind) -> None:
    if kind == "fifo":
        path = tmp_path / "m.onnx"
        os.mkfifo(path)
    elif kind == "dir":
        path = tmp_path / "m.pt"
        path.mkdir()
    elif kind == "chardev":
        path = Path("/dev/null")
    else:
        path = tmp_path / ("a" * 5000)
    with pytest.raises(InputError, match="model"):
        load_source(str(path))
