"""Untrusted files, signed bundles, archives, killed compiles, threads, leaks, odd inputs."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

import edgekit
from edgekit.archive import ExtractLimits, pack, unpack
from edgekit.bundle import read_bundle
from edgekit.errors import BundleError, InputError
from tests.conftest import ROOT, assert_thread_safe, run_cli

WEIGHTS = ROOT / "examples" / "digits" / "weights.safetensors"


# -- archives ------------------------------------------------------------------------------
def test_pack_and_load_archive(digits_bundle, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("EDGEKIT_CACHE_DIR", str(tmp_path / "cache"))
    proc = run_cli("pack", str(digits_bundle), "--out", str(tmp_path / "digits.edgekit.zip"))
    assert proc.returncode == 0, proc.stderr
    rt = edgekit.load(tmp_path / "digits.edgekit.zip")
    assert rt.selfcheck().passed
    again = edgekit.load(tmp_path / "digits.edgekit.zip")  # unpacked once, reused
    assert again.bundle.origin == rt.bundle.origin  # each load runs its own verified private copy


def _zip(path: Path, entries: dict[str, bytes], link: str | None = None) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
        if link:
            info = zipfile.ZipInfo(link)
            info.external_attr = (0o120777 << 16)
            archive.writestr(info, "/etc/passwd")
    return path


@pytest.mark.parametrize(
    ("entries", "link", "limits", "needle"),
    [
        ({"../evil.txt": b"x"}, None, ExtractLimits(), "outside the bundle"),
        ({"/abs.txt": b"x"}, None, ExtractLimits(), "outside the bundle"),
        ({"manifest.json": b"{}"}, "model.onnx", ExtractLimits(), "link"),
        ({"bomb.bin": b"\0" * 5_000_000}, None, ExtractLimits(), "archive bomb"),
        ({f"f{i}": b"x" for i in range(20)}, None, ExtractLimits(max_files=10), "entries"),
    ],
)
def test_unsafe_archives_are_refused(tmp_path, entries, link, limits, needle) -> None:
    archive = _zip(tmp_path / "bad.edgekit.zip", {"manifest.json": b"{}", **entries}, link)
    with pytest.raises(BundleError, match=needle):
        unpack(archive, cache_dir=tmp_path / "cache", limits=limits)
    assert not (tmp_path / "evil.txt").exists()
    leftovers = [p for p in (tmp_path / "cache").rglob("*") if p.is_file()] if (tmp_path / "cache").exists() else []
    assert leftovers == []


def test_not_a_zip(tmp_path) -> None:
    fake = tmp_path / "x.edgekit.zip"
    fake.write_bytes(b"nope")
    with pytest.raises(BundleError, match="not a zip"):
        edgekit.load(fake)


# -- signing ------------------------------------------------------------------------------
def test_sign_and_verify(digits_bundle, tmp_path) -> None:
    bundle = tmp_path / "signed.edgekit"
    shutil.copytree(digits_bundle, bundle)
    key, other = tmp_path / "release.key", tmp_path / "other.key"
    assert run_cli("keygen", str(key)).returncode == 0
    assert run_cli("keygen", str(other)).returncode == 0
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    pub, other_pub = Path(f"{key}.pub"), Path(f"{other}.pub")

    with pytest.raises(BundleError, match="not signed"):
        edgekit.load(bundle, verify_key=pub)
    assert run_cli("sign", str(bundle), "--key", str(key)).returncode == 0
    assert edgekit.load(bundle, verify_key=pub).selfcheck().passed
    assert run_cli("check", str(bundle), "--verify-key", str(pub)).returncode == 0
    with pytest.raises(BundleError, match="does not verify"):
        edgekit.load(bundle, verify_key=other_pub)
    wrong = run_cli("check", str(bundle), "--verify-key", str(other_pub))
    assert wrong.returncode == 2 and "does not verify" in wrong.stderr

    # Any change to the manifest (here: the verdict) breaks the signature.
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["parity"]["passed"] = True
    manifest["name"] = "renamed"
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="does not verify"):
        edgekit.load(bundle, verify_key=pub)
    # A signed archive keeps its signature.
    shutil.rmtree(bundle)
    shutil.copytree(digits_bundle, bundle)
    run_cli("sign", str(bundle), "--key", str(key))
    archive = pack(bundle, tmp_path / "signed.edgekit.zip")
    assert edgekit.load(unpack(archive, cache_dir=tmp_path / "c"), verify_key=pub)


# -- never half-written ------------------------------------------------------------------
KILL_POINTS = ["exporting to ONNX", "quantizing to int8", "building target cpu", "building target intel-cpu"]


def test_killed_compiles_leave_the_old_bundle_or_nothing(tmp_path, digits_data) -> None:
    out = tmp_path / "digits.edgekit"
    args = [sys.executable, "-m", "edgekit", "compile", "examples.digits.model:create", "--weights", str(WEIGHTS),
            "--dynamic", "image:0", "--precision", "int8", "--calib", str(digits_data["train"]),
            "--eval", str(digits_data["test"]), "--target", "cpu,intel-cpu", "--out", str(out)]
    env = {**os.environ, "TMPDIR": str(tmp_path)}

    # No bundle yet: a compile killed mid-way leaves none.
    _kill_at(args, KILL_POINTS[1], env)
    assert not out.exists()

    first = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)
    assert first.returncode == 0, first.stderr
    manifest = (out / "manifest.json").read_text()
    for point in KILL_POINTS:
        _kill_at([*args, "--force"], point, env)
        assert (out / "manifest.json").read_text() == manifest, point
        assert edgekit.load(out).selfcheck().passed, point
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith((".digits.edgekit.tmp-", "edgekit-scratch-"))]
    assert leftovers, "the killed runs left their temporary folders behind"
    done = subprocess.run([*args, "--force"], capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith((".digits.edgekit.tmp-", "edgekit-scratch-"))]
    assert leftovers == [], "the next run cleans what killed runs left"


def _kill_at(args: list[str], marker: str, env: dict[str, str]) -> None:
    proc = subprocess.Popen(args, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, cwd=ROOT, env=env)
    assert proc.stderr is not None
    try:
        for line in proc.stderr:
            if marker in line:
                proc.send_signal(signal.SIGKILL)
                break
        else:
            pytest.fail(f"the compile ended before '{marker}'")
    finally:
        proc.wait(timeout=120)
    assert proc.returncode == -signal.SIGKILL


# -- under load ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def load_bundles(tmp_path_factory):
    from examples.zoo import make_cnn, make_transformer

    out = {}
    for name, make in (("cnn", make_cnn), ("transformer", make_transformer)):
        module, example, dynamic = make()
        art = edgekit.compile(module, example, target="cpu,intel-cpu", dynamic=dynamic,
                              out=tmp_path_factory.mktemp("load") / f"{name}.edgekit")
        assert art.passed
        out[name] = (art.path, example)
    return out


@pytest.mark.parametrize("target", ["cpu", "intel-cpu"])
@pytest.mark.parametrize("model", ["cnn", "transformer"])
def test_eight_threads_by_500_calls(load_bundles, model: str, target: str) -> None:
    path, example = load_bundles[model]
    rt = edgekit.load(path, target=target)
    rng = np.random.default_rng(0)
    name = rt.inputs[0].name
    base = example[0].numpy()
    feeds = []
    for i in range(6):
        if base.dtype == np.int64:
            feeds.append({name: rng.integers(0, 100, size=(1 + i % 3, base.shape[1])).astype(np.int64)})
        else:
            feeds.append({name: rng.standard_normal((1 + i % 3, *base.shape[1:])).astype(np.float32)})
    assert_thread_safe(rt, feeds, threads=8, calls=500)


def _rss_kb() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)


@pytest.mark.parametrize("target", ["cpu", "intel-cpu"])
def test_no_leak_over_10000_calls(load_bundles, target: str) -> None:
    path, _ = load_bundles["cnn"]
    rt = edgekit.load(path, target=target)
    x = {"x": np.random.default_rng(0).standard_normal((1, 3, 32, 32)).astype(np.float32)}
    for _ in range(1000):
        rt.run(x)
    after_1k = _rss_kb()
    for _ in range(9000):
        rt.run(x)
    grown = _rss_kb() - after_1k
    assert grown < 8 * 1024, f"resident memory grew {grown} kB between call 1,000 and 10,000"


def test_odd_inputs_work_or_raise_input_error(load_bundles) -> None:
    path, _ = load_bundles["cnn"]
    for target in ("cpu", "intel-cpu"):
        rt = edgekit.load(path, target=target)
        x = np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32)
        x[0, 0, 0, 0] = np.nan
        out = rt.run({"x": x})["output"]  # NaN is not refused (backends differ on how ReLU treats it)
        assert out.shape == (2, 10) and np.isfinite(out[1]).all()
        try:
            empty = rt.run({"x": np.zeros((0, 3, 32, 32), np.float32)})["output"]
            assert empty.shape == (0, 10)
        except InputError:
            pass
        huge = rt.run({"x": np.zeros((512, 3, 32, 32), np.float32)})["output"]
        assert huge.shape == (512, 10)
        with pytest.raises(InputError):
            rt.run({"x": np.zeros((2, 3, 0, 32), np.float32)})
        assert rt.run({"x": x.astype(">f4")})["output"].shape == (2, 10)
        assert rt.run({"x": np.asfortranarray(x)})["output"].shape == (2, 10)


def test_check_flags_nonfinite_outputs(load_bundles, tmp_path) -> None:
    path, example = load_bundles["cnn"]
    module_path = tmp_path / "cnnref.py"
    module_path.write_text("from examples.zoo import make_cnn\n\ndef create():\n    return make_cnn()[0]\n")
    data = np.random.default_rng(0).standard_normal((4, 3, 32, 32)).astype(np.float32)
    data[1, 0, 0, 0] = np.inf
    np.savez(tmp_path / "inf.npz", x=data)
    env_path = f"{tmp_path}{os.pathsep}{ROOT}"
    proc = subprocess.run([sys.executable, "-m", "edgekit", "check", str(path), "--target", "cpu", "--against",
                           "cnnref:create", "--data", str(tmp_path / "inf.npz")], capture_output=True, text=True,
                          cwd=tmp_path, env={**os.environ, "PYTHONPATH": env_path}, timeout=300)
    assert proc.returncode in (0, 3), proc.stderr
    assert "non-finite" in proc.stdout


def test_manifest_unknown_fields_do_not_break_loading(digits_bundle, tmp_path) -> None:
    bundle = tmp_path / "b.edgekit"
    shutil.copytree(digits_bundle, bundle)
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["future_field"] = {"x": 1}
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    assert read_bundle(bundle).manifest["future_field"] == {"x": 1}
