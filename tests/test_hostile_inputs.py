"""The listed cases of issue 12 that reached a traceback: each is one line and exit 2 now, or works.

CLI cases run in-process through ``edgekit.cli.main`` (what the console script calls).
"""

from __future__ import annotations

import json
import logging
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

import edgekit
from edgekit.archive import pack, unpack
from edgekit.bundle import read_bundle, sha256_file
from edgekit.cli import main
from edgekit.compiler.inputs import parse_input
from edgekit.errors import BundleError, InputError

SMALL_ONNX_OPSET = 17


def _error(capsys, argv: list[str], code: int = 2) -> str:
    assert main(argv) == code
    err = capsys.readouterr().err
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert lines and lines[-1].startswith("error: "), err
    assert "Traceback" not in err
    return lines[-1]


def _forged_npy(path: Path, shape: tuple[int, ...]) -> Path:
    with open(path, "wb") as fh:
        np.lib.format.write_array_header_1_0(fh, {"descr": "<f4", "fortran_order": False, "shape": shape})
        fh.write(b"\0" * 64)
    return path


@pytest.fixture(scope="module")
def small_onnx(tmp_path_factory) -> Path:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 3])
    w = numpy_helper.from_array(np.arange(12, dtype=np.float32).reshape(4, 3) / 10, "w")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["h"]),
                               helper.make_node("Relu", ["h"], ["y"])], "g", [x], [y], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", SMALL_ONNX_OPSET)])
    model.ir_version = 8
    path = tmp_path_factory.mktemp("onnx") / "small.onnx"
    onnx.save(model, str(path))
    return path


# -- arrays that declare more than they hold ----------------------------------------------
def test_npy_input_declaring_a_trillion_elements(capsys, digits_bundle, tmp_path) -> None:
    big = _forged_npy(tmp_path / "big.npy", (10**12,))
    line = _error(capsys, ["run", str(digits_bundle), "--input", f"image={big}"])
    assert "big.npy" in line and "--input image" in line


def test_golden_npz_declaring_a_trillion_elements(digits_bundle, tmp_path) -> None:
    bundle = tmp_path / "b.edgekit"
    shutil.copytree(digits_bundle, bundle)
    golden = bundle / "golden.npz"
    with zipfile.ZipFile(golden, "w") as archive, archive.open("in_0_0.npy", "w") as fh:
        np.lib.format.write_array_header_1_0(fh, {"descr": "<f4", "fortran_order": False, "shape": (10**12,)})
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["files"]["golden.npz"] = {"sha256": sha256_file(golden), "size": golden.stat().st_size}
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="golden samples"):
        edgekit.load(bundle).selfcheck()


def test_eval_npz_with_object_arrays_is_never_unpickled(capsys, small_onnx, tmp_path) -> None:
    bad = tmp_path / "objects.npz"
    np.savez(bad, x=np.array([{"a": 1}, None], dtype=object))
    line = _error(capsys, ["compile", str(small_onnx), "--eval", str(bad), "--out", str(tmp_path / "o.edgekit")])
    assert "objects.npz" in line and "object" in line


@pytest.mark.parametrize("text", ["x:100000000000x4", "x:99999999999999999999x4"])
def test_huge_input_shapes_are_refused_before_allocating(text) -> None:
    with pytest.raises(InputError, match="memory"):
        parse_input(text)


def test_onnx_input_declared_with_a_trillion_elements(capsys, tmp_path) -> None:
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 10**12])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10**12])
    model = helper.make_model(helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y]),
                              opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(tmp_path / "huge.onnx"))
    line = _error(capsys, ["compile", str(tmp_path / "huge.onnx"), "--out", str(tmp_path / "h.edgekit")])
    assert "memory" in line and "'x'" in line


# -- output paths, checked before any build -----------------------------------------------
def _bad_output_paths(tmp_path: Path) -> list[Path]:
    (tmp_path / "afile").write_text("x")
    return [tmp_path / "missing" / "o", tmp_path / "afile" / "o", Path("/proc/edgekit-o"),
            tmp_path / ("n" * 300)]


@pytest.mark.parametrize("which", range(4))
def test_compile_output_paths_are_checked_before_building(capsys, small_onnx, tmp_path, which) -> None:
    bad = _bad_output_paths(tmp_path)[which]
    out = tmp_path / "ok.edgekit"
    line = _error(capsys, ["compile", str(small_onnx), "--out", str(out), "--junit", str(bad)])
    assert "--junit" in line
    line = _error(capsys, ["compile", str(small_onnx), "--out", f"{bad}.edgekit"])
    assert "--out" in line
    assert not out.exists() and "building" not in capsys.readouterr().err


def test_other_output_paths(capsys, digits_bundle, tmp_path) -> None:
    for bad in _bad_output_paths(tmp_path):
        assert "--report" in _error(capsys, ["check", str(digits_bundle), "--report", f"{bad}.json"])
        assert "--out" in _error(capsys, ["pack", str(digits_bundle), "--out", f"{bad}.edgekit.zip"])
        assert "key" in _error(capsys, ["keygen", str(bad)])
        x = tmp_path / "x.npy"
        np.save(x, np.zeros((1, 1, 8, 8), np.float32))
        assert "--output" in _error(capsys, ["run", str(digits_bundle), "--input", f"image={x}",
                                             "--output", str(bad)])


def test_run_output_names_the_file_it_writes(capsys, digits_bundle, tmp_path) -> None:
    x = tmp_path / "x.npy"
    np.save(x, np.zeros((1, 1, 8, 8), np.float32))
    assert main(["run", str(digits_bundle), "--input", f"image={x}", "--output", str(tmp_path / "outs")]) == 0
    assert f"{tmp_path / 'outs.npz'}" in capsys.readouterr().out
    assert (tmp_path / "outs.npz").is_file()


# -- flags --------------------------------------------------------------------------------
@pytest.mark.parametrize("argv, needle", [
    (["compile", "M", "--seed", "-5"], "--seed"),
    (["bench", "B", "--time-budget", "nan"], "--time-budget"),
    (["bench", "B", "--threads", "-1"], "--threads"),
    (["compile", "M", "--opset", "1"], "--opset 1"),
    (["compile", "M", "--opset", "99"], "--opset 99"),
])
def test_out_of_range_flags(capsys, small_onnx, digits_bundle, argv, needle) -> None:
    argv = [str(small_onnx) if a == "M" else str(digits_bundle) if a == "B" else a for a in argv]
    assert needle in _error(capsys, argv)


def test_opset_is_honoured(small_onnx, tmp_path) -> None:
    art = edgekit.compile(str(small_onnx), opset=16, out=tmp_path / "o16.edgekit")
    assert art.manifest["portable_model"]["opset"]["ai.onnx"] == 16
    with pytest.raises(InputError, match="cannot be converted"):
        edgekit.compile(str(small_onnx), opset=13, out=tmp_path / "o13.edgekit")


# -- archives -----------------------------------------------------------------------------
def _archive_with(tmp_path: Path, digits_bundle: Path, edit) -> Path:
    good = pack(digits_bundle, tmp_path / "good.edgekit.zip", force=True)
    out = tmp_path / "bad.edgekit.zip"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info, src.read(info))
        edit(dst)
    return out


def _corrupt_deflate(path: Path) -> None:
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("model.onnx")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra) + 10
    data[start:start + 64] = bytes(64)
    path.write_bytes(bytes(data))


def _flag(path: Path, name: str, flag_bits: int | None = None, method: int | None = None) -> None:
    """Rewrites an entry's flags or compression method in both the local and central headers."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(name)
    offsets = [info.header_offset + 6]
    pos = data.find(b"PK\x01\x02")
    while pos >= 0:
        n = int.from_bytes(data[pos + 28:pos + 30], "little")
        if data[pos + 46:pos + 46 + n] == name.encode():
            offsets.append(pos + 8)
        pos = data.find(b"PK\x01\x02", pos + 4)
    for off in offsets:
        if flag_bits is not None:
            data[off:off + 2] = flag_bits.to_bytes(2, "little")
        if method is not None:
            data[off + 2:off + 4] = method.to_bytes(2, "little")
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("case", ["deflate", "encrypted", "deflate64", "unknown", "file-then-child",
                                  "long-name", "no-manifest"])
def test_broken_archives_are_one_bundle_error(digits_bundle, tmp_path, case) -> None:
    edits = {
        "file-then-child": lambda z: (z.writestr("a", b"x"), z.writestr("a/b", b"y")),
        "long-name": lambda z: z.writestr("n" * 300, b"x"),
    }
    archive = _archive_with(tmp_path, digits_bundle, edits.get(case, lambda z: None))
    if case == "deflate":
        _corrupt_deflate(archive)
    elif case == "encrypted":
        _flag(archive, "model.onnx", flag_bits=0x1)
    elif case in ("deflate64", "unknown"):
        _flag(archive, "model.onnx", method=9 if case == "deflate64" else 77)
    elif case == "no-manifest":
        with zipfile.ZipFile(tmp_path / "bare.edgekit.zip", "w") as z:
            z.writestr("model.onnx", b"x")
        archive = tmp_path / "bare.edgekit.zip"
    for _ in range(2):  # the second attempt must not find a half-made cache entry
        with pytest.raises(BundleError):
            unpack(archive, cache_dir=tmp_path / "cache")


def test_cache_dir_that_is_a_file(digits_bundle, tmp_path) -> None:
    archive = pack(digits_bundle, tmp_path / "d.edgekit.zip")
    (tmp_path / "cache").write_text("not a folder")
    with pytest.raises(InputError, match="cache folder"):
        unpack(archive, cache_dir=tmp_path / "cache")


def test_bomb_limit_counts_the_bytes_actually_inflated(tmp_path) -> None:
    """Entries claiming a huge compressed size may not inflate past ratio x the archive's real size."""
    path = tmp_path / "bomb.edgekit.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("manifest.json", b"{}")
        for i in range(8):
            z.writestr(f"f{i}", b"\0" * 3_000_000)
    data = bytearray(path.read_bytes())
    pos = data.find(b"PK\x01\x02")
    while pos >= 0:  # forge every central-directory compressed size to 1 MB
        data[pos + 20:pos + 24] = (1_000_000).to_bytes(4, "little")
        pos = data.find(b"PK\x01\x02", pos + 4)
    path.write_bytes(bytes(data))
    with pytest.raises(BundleError):
        unpack(path, cache_dir=tmp_path / "cache")
    written = sum(p.stat().st_size for p in (tmp_path / "cache").rglob("*") if p.is_file())
    assert written <= 200 * path.stat().st_size + 2**21


def test_a_tampered_cache_copy_is_not_trusted(digits_bundle, tmp_path) -> None:
    archive = pack(digits_bundle, tmp_path / "d.edgekit.zip")
    first = unpack(archive, cache_dir=tmp_path / "cache")
    manifest = json.loads((first / "manifest.json").read_text())
    manifest["parity"]["passed"] = True
    manifest["name"] = "tampered"
    (first / "manifest.json").write_text(json.dumps(manifest))
    again = unpack(archive, cache_dir=tmp_path / "cache")
    assert json.loads((again / "manifest.json").read_text())["name"] != "tampered"
    assert read_bundle(again)
    (again / "parity.md").write_text("tampered file, same manifest")
    third = unpack(archive, cache_dir=tmp_path / "cache")
    assert "tampered" not in (third / "parity.md").read_text()
    assert edgekit.load(third).selfcheck().passed


def test_archives_work_with_inspect_and_check_layers_and_sign_says_why_not(capsys, digits_bundle,
                                                                           tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("EDGEKIT_CACHE_DIR", str(tmp_path / "cache"))
    archive = pack(digits_bundle, tmp_path / "d.edgekit.zip")
    assert main(["inspect", str(archive)]) == 0
    assert main(["check", str(archive), "--layers"]) == 0
    capsys.readouterr()
    line = _error(capsys, ["sign", str(archive), "--key", str(tmp_path / "k")])
    assert "sign the bundle folder, then pack it" in line


# -- runtime ------------------------------------------------------------------------------
def test_run_after_close_says_so(digits_bundle) -> None:
    rt = edgekit.load(digits_bundle)
    rt.close()
    with pytest.raises(InputError, match="closed"):
        rt.run({"image": np.zeros((1, 1, 8, 8), np.float32)})


@pytest.mark.parametrize("target", ["cpu", "intel-cpu"])
def test_nonfinite_inputs_are_reported_the_same_on_every_target(small_onnx, tmp_path, caplog, target) -> None:
    out = tmp_path / f"{target}.edgekit"
    edgekit.compile(str(small_onnx), target=target, out=out)
    x = np.ones((2, 4), np.float32)
    x[0, 0] = np.nan
    with caplog.at_level(logging.WARNING, logger="edgekit.runtime"):
        edgekit.load(out, target).run({"x": x})
    assert any("input 'x' holds 1 non-finite value(s)" in r.getMessage() for r in caplog.records)


def test_a_broken_settings_file_breaks_only_compile(capsys, digits_bundle, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "edgekit.toml").write_text("this is [ not toml")
    assert main(["targets"]) == 0
    assert main(["inspect", str(digits_bundle)]) == 0
    capsys.readouterr()
    assert "settings file" in _error(capsys, ["compile", "m.onnx"])


def test_killed_pack_and_unpack_leftovers_are_removed(digits_bundle, tmp_path) -> None:
    stale_pack = tmp_path / ".d.edgekit.zip.tmp-pack-dead"
    stale_pack.write_bytes(b"\0" * 1024)
    archive = pack(digits_bundle, tmp_path / "d.edgekit.zip")
    assert not stale_pack.exists()
    from edgekit.bundle import sha256_file as digest_of

    root = tmp_path / "cache" / digest_of(archive)[:32]
    (root / ".unpack-dead").mkdir(parents=True)
    (root / ".unpack-dead" / "model.onnx").write_bytes(b"\0" * 1024)
    unpack(archive, cache_dir=tmp_path / "cache")
    assert not (root / ".unpack-dead").exists()


@pytest.mark.parametrize("argv", [
    ["inspect", "/tmp/" + "a" * 5000], ["inspect", "/tmp/" + "b" * 300], ["check", "/tmp/" + "a" * 5000],
    ["pack", "/tmp/" + "a" * 5000], ["sign", "/tmp/" + "a" * 5000, "--key", "k"], ["bench", "/tmp/" + "a" * 5000],
    ["compile", "/tmp/" + "a" * 5000], ["inspect", "/dev/null"], ["run", "/tmp", "--input", "x=/dev/zero"],
])
def test_paths_no_file_system_holds_are_one_line(capsys, argv) -> None:
    _error(capsys, argv)
