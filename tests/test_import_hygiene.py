"""The embedded runtime needs numpy and its backend only; every --help works without heavy packages."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT

BLOCKED = ("torch", "onnxsim", "openvino", "tensorrt", "cuda", "onnx", "onnxscript", "ml_dtypes")

def blocker(names: tuple[str, ...]) -> str:
    """Python source that makes importing any of ``names`` fail, as if it were not installed."""
    return f"""
import sys, importlib.abc
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split('.')[0] in {names!r}:
            raise ImportError('blocked for the test: ' + name)
sys.meta_path.insert(0, Block())
"""


BLOCKER = blocker(BLOCKED)


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)


def test_import_and_run_without_torch(digits_bundle) -> None:
    code = BLOCKER + f"""
import numpy as np, edgekit
rt = edgekit.load({str(digits_bundle)!r})
out = rt.run({{"image": np.zeros((2, 1, 8, 8), np.float32)}})
assert out["output"].shape == (2, 10)
assert rt.selfcheck().passed
assert edgekit.check({str(digits_bundle)!r}).passed
heavy = sorted(m for m in sys.modules if m.split('.')[0] in {BLOCKED!r})
print("heavy:", heavy)
"""
    proc = _python(code)
    assert proc.returncode == 0, proc.stderr
    assert "heavy: []" in proc.stdout


def test_plain_import_loads_nothing_heavy(digits_bundle) -> None:
    code = f"""
import sys, numpy as np, edgekit
rt = edgekit.load({str(digits_bundle)!r})
rt.run({{"image": np.zeros((1, 1, 8, 8), np.float32)}})
print(sorted(m for m in sys.modules if m.split('.')[0] in {BLOCKED!r}))
"""
    proc = _python(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_every_module_imports_without_heavy_packages() -> None:
    code = BLOCKER + """
import pkgutil, importlib, edgekit
for info in pkgutil.walk_packages(edgekit.__path__, 'edgekit.'):
    if info.name.endswith('__main__'):
        continue
    try:
        importlib.import_module(info.name)
    except ImportError as err:
        if 'blocked for the test' in str(err):
            # compile-time modules may need onnx; they must say so only when imported, never at `import edgekit`
            print('needs-heavy', info.name)
            continue
        raise
print('ok')
"""
    proc = _python(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith("ok")
    heavy = [ln.split()[1] for ln in proc.stdout.splitlines() if ln.startswith("needs-heavy")]
    # Only compilation may need onnx at import time; the runtime side never.
    assert all(m.startswith("edgekit.compiler.") for m in heavy), heavy


def test_targets_and_inspect_run_without_heavy_packages(digits_bundle) -> None:
    code = BLOCKER + (f"from edgekit.cli import main; main(['targets']); "
                      f"raise SystemExit(main(['inspect', {str(digits_bundle)!r}]))")
    proc = _python(code)
    assert proc.returncode == 0, proc.stderr
    assert "cpu" in proc.stdout and "PASSED" in proc.stdout


@pytest.mark.parametrize("cmd", ["compile", "check", "run", "inspect", "targets"])
def test_help_with_heavy_packages_blocked(cmd: str) -> None:
    proc = _python(BLOCKER + f"from edgekit.cli import main; raise SystemExit(main([{cmd!r}, '--help']))")
    assert proc.returncode == 0, proc.stderr
    assert "Usage" in proc.stdout


def test_compile_for_missing_backend_exits_4_with_install_hint(tmp_path) -> None:
    code = blocker(("openvino",)) + f"""
from edgekit.cli import main
raise SystemExit(main(['compile', 'examples.digits.model:create', '--input', 'image:1x1x8x8',
                       '--target', 'intel-cpu', '--out', {str(tmp_path / 'x.edgekit')!r}]))
"""
    proc = _python(code)
    assert proc.returncode == 4, proc.stderr
    assert "openvino is not installed" in proc.stderr and "pip install" in proc.stderr
    assert not (tmp_path / "x.edgekit").exists()
