"""The typed manifest and its published JSON Schema: the schema is valid, the built-in validator and
jsonschema agree on broken manifests, a written manifest round-trips byte for byte, and the loader
refuses a broken one with one line naming the field."""

from __future__ import annotations

import copy
import json
import shutil
import sys
from pathlib import Path

import jsonschema
import pytest

from edgekit.bundle import read_bundle
from edgekit.compiler.inputs import DTYPES
from edgekit.errors import BundleError
from edgekit.manifest import SCHEMA_FILE, Manifest, schema
from edgekit.precision import PRECISIONS
from edgekit.schema_check import builtin_problems, check_keywords, problems

SHA = "ab" * 32


def _valid() -> dict:
    """A small manifest of the shape compiler/manifest.py writes (two targets, a fixed-shape one)."""
    image = {"name": "image", "shape": ["batch", 1, 8, 8], "dtype": "float32"}
    return {
        "schema_version": 1, "edgekit_version": "0.1.0", "name": "digits", "created": "2026-01-01T00:00:00+00:00",
        "source": {"kind": "module", "description": "DigitsCNN", "sha256": SHA},
        "signature": {"inputs": [image], "outputs": [{"name": "output", "shape": ["batch", 10], "dtype": "float32"}]},
        "precision": "int8",
        "portable_model": {"file": "model.onnx", "opset": {"ai.onnx": 20}, "stages": []},
        "targets": [
            {"name": "cpu", "backend": "onnxruntime", "backend_version": "1.2", "precision": "int8",
             "files": {"model": "cpu/model.onnx"}, "speed": {"ms": 0.1}},
            {"name": "intel-cpu", "backend": "openvino", "precision": "int8",
             "files": {"model": "intel-cpu/model.xml", "weights": "intel-cpu/model.bin"},
             "inputs": [dict(image, shape=[1, 1, 8, 8])]},
        ],
        "quantization": {"precision": "int8", "calibration": {"method": "minmax"}},
        "parity": {"passed": True, "targets": {"cpu": {"passed": True, "summary": "ok"}},
                   "rule_overrides": {"max_accuracy_drop": 1.0}, "rule_precision": "int8"},
        "metadata": {"onnxsim.constant_folding": "true"},
        "build_host": {"cpu": "AMD EPYC", "machine": "x86_64", "cores": 2, "isa": ["avx2"]},
        "toolchain": {"edgekit": "0.1.0"}, "notes": [],
        "files": {p: {"sha256": SHA, "size": 10} for p in
                  ("model.onnx", "cpu/model.onnx", "intel-cpu/model.xml", "intel-cpu/model.bin", "golden.npz")},
    }


def test_the_published_schema_is_valid_and_uses_only_what_the_builtin_validator_implements() -> None:
    assert SCHEMA_FILE.name == "manifest.schema.json" and SCHEMA_FILE.parent.name == "edgekit"
    jsonschema.Draft202012Validator.check_schema(schema())
    check_keywords(schema())  # raises on a keyword without a built-in implementation
    with pytest.raises(ValueError, match="oneOf"):
        check_keywords({"oneOf": [{"type": "string"}]})


def test_the_schema_ships_as_package_data() -> None:
    import fnmatch

    import tomllib

    pyproject = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    globs = pyproject["tool"]["setuptools"]["package-data"]["edgekit"]
    assert any(fnmatch.fnmatch("manifest.schema.json", g) for g in globs)


def test_schema_enums_follow_the_code() -> None:
    defs = schema()["$defs"]
    assert tuple(defs["precision"]["enum"]) == PRECISIONS
    assert set(DTYPES) <= set(defs["dtype"]["enum"])


def _set(m: dict, path: str, value: object) -> dict:
    node = m
    *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
    for part in parents:
        node = node[part]
    if value is KeyError:
        del node[last]
    else:
        node[last] = value
    return m


BROKEN = [  # (field path, new value or KeyError to delete it), (the reported path, keyword)
    (("signature", KeyError), ("", "required")),
    (("files", []), ("files", "type")),  # file entries (keys with dots and slashes): _broken_files
    (("precision", "fp8"), ("precision", "enum")),
    (("precision", 32), ("precision", "enum")),
    (("edgekit_version", 1), ("edgekit_version", "type")),
    (("targets", []), ("targets", "minItems")),
    (("targets.0.files", KeyError), ("targets[0]", "required")),
    (("targets.0.files.model", 7), ("targets[0].files.model", "type")),
    (("targets.1.inputs.0.dtype", "complex64"), ("targets[1].inputs[0].dtype", "enum")),
    (("targets.0.precision", "int4"), ("targets[0].precision", "enum")),
    (("signature.inputs", []), ("signature.inputs", "minItems")),
    (("signature.inputs.0.shape.0", -1), ("signature.inputs[0].shape[0]", "anyOf")),
    (("signature.inputs.0.shape.0", ""), ("signature.inputs[0].shape[0]", "anyOf")),
    (("signature.inputs.0.shape.1", True), ("signature.inputs[0].shape[1]", "anyOf")),
    (("signature.outputs.0.name", KeyError), ("signature.outputs[0]", "required")),
    (("parity.passed", "yes"), ("parity.passed", "type")),
    (("parity.rule_overrides.atol", "0.1"), ("parity.rule_overrides.atol", "type")),
    (("parity.rule_overrides.speed", 1), ("parity.rule_overrides", "additionalProperties")),
    (("metadata.k", 3), ("metadata.k", "type")),
    (("build_host.isa", "avx2"), ("build_host.isa", "type")),
]


def _broken_files() -> list[tuple[dict, tuple[str, str]]]:
    """Broken file entries (their keys hold dots and slashes, so the path quotes them)."""
    cases = []
    for change, keyword in ((dict(sha256="AB" * 32), "pattern"), (dict(sha256=5), "type"),
                            (dict(size=-1), "minimum"), (dict(size="10"), "type")):
        m = _valid()
        m["files"]["cpu/model.onnx"].update(change)
        cases.append((m, (f'files["cpu/model.onnx"].{next(iter(change))}', keyword)))
    return cases


def _cases() -> list[tuple[dict, tuple[str, str]]]:
    out = [(_set(_valid(), path, value), want) for (path, value), want in BROKEN]
    return out + _broken_files()


@pytest.mark.parametrize(("doc", "want"), _cases(), ids=lambda v: v[0] if isinstance(v, tuple) else "")
def test_builtin_validator_and_jsonschema_agree_on_broken_manifests(doc: dict, want: tuple[str, str]) -> None:
    ours = problems(doc, schema(), use_jsonschema=False)
    theirs = problems(doc, schema(), use_jsonschema=True)
    assert ours == theirs  # the same (path, keyword) set, in the same order
    first = ours[0]
    assert ((first.where if first.path else ""), first.keyword) == want
    with pytest.raises(BundleError) as err:
        Manifest.from_dict(doc, "manifest.json")
    message = err.value.message
    assert "\n" not in message and (want[0] or "lacks field") in message


def test_a_valid_manifest_has_no_problems_and_round_trips() -> None:
    doc = _valid()
    assert problems(doc, schema(), use_jsonschema=False) == problems(doc, schema(), use_jsonschema=True) == []
    m = Manifest.from_dict(copy.deepcopy(doc))
    assert m.target_names == ("cpu", "intel-cpu") and m.targets[1].inputs[0].shape == (1, 1, 8, 8)
    assert m.parity.rule_overrides == {"max_accuracy_drop": 1.0} and m.files["golden.npz"].size == 10
    assert json.dumps(m.to_dict()) == json.dumps(doc)


def test_unknown_top_level_sections_load_and_survive_a_round_trip() -> None:
    doc = dict(_valid(), future_section={"anything": [1, 2]})
    assert Manifest.from_dict(doc).to_dict()["future_section"] == {"anything": [1, 2]}


def test_typed_fields_are_what_to_dict_writes() -> None:
    import dataclasses

    m = Manifest.from_dict(_valid())
    changed = dataclasses.replace(m, precision="fp16", targets=(dataclasses.replace(m.targets[0], backend="x"),))
    out = changed.to_dict()
    assert out["precision"] == "fp16" and [t["backend"] for t in out["targets"]] == ["x"]
    assert list(out) == list(_valid())  # the written order is kept
    assert m.to_dict()["precision"] == "int8"  # the original is untouched


@pytest.mark.parametrize(("path", "needle"), [
    ("signature.inputs.0.shape.2", r"signature.inputs\[0\].shape\[2\] must be an integer, not 8.0"),
    ("targets.1.inputs.0.shape.0", r"targets\[1\].inputs\[0\].shape\[0\] must be an integer, not 1.0"),
])
def test_integral_floats_that_json_schema_calls_integers_are_refused(path: str, needle: str) -> None:
    value = _valid()
    for part in path.split("."):
        value = value[int(part) if part.isdigit() else part]
    doc = _set(_valid(), path, float(value))
    assert problems(doc, schema(), use_jsonschema=True) == []  # the schema alone lets it through
    with pytest.raises(BundleError, match=needle):
        Manifest.from_dict(doc)
    doc = _valid()
    doc["files"]["golden.npz"]["size"] = 10.0
    with pytest.raises(BundleError, match=r'files\["golden.npz"\].size must be an integer'):
        Manifest.from_dict(doc)


def test_a_target_naming_an_unlisted_file_is_refused() -> None:
    doc = _valid()
    doc["targets"][0]["files"]["model"] = "cpu/other.onnx"
    with pytest.raises(BundleError, match=r"targets\[0\].files.model names 'cpu/other.onnx'"):
        Manifest.from_dict(doc)


def test_builtin_validator_is_used_without_jsonschema(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "jsonschema", None)  # import jsonschema now raises ImportError
    doc = _set(_valid(), "targets.0.files.model", 7)
    assert [p.where for p in problems(doc, schema())] == ["targets[0].files.model"]
    assert list(builtin_problems(_valid(), schema())) == []


def test_written_manifest_round_trips_byte_for_byte(digits_bundle: Path, tmp_path: Path) -> None:
    text = (digits_bundle / "manifest.json").read_text()
    m = read_bundle(digits_bundle).typed
    assert m is not None and m.inputs[0].shape[0] == "batch"
    assert json.dumps(m.to_dict(), indent=2, default=str) + "\n" == text


@pytest.mark.parametrize("use_jsonschema", [True, False])
def test_loader_names_the_broken_field(digits_bundle: Path, tmp_path: Path, monkeypatch, use_jsonschema) -> None:
    if not use_jsonschema:
        monkeypatch.setitem(sys.modules, "jsonschema", None)
    copy_ = tmp_path / "copy.edgekit"
    shutil.copytree(digits_bundle, copy_)
    doc = json.loads((copy_ / "manifest.json").read_text())
    doc["files"]["cpu/model.onnx"]["sha256"] = 5
    (copy_ / "manifest.json").write_text(json.dumps(doc))
    with pytest.raises(BundleError, match=r'is malformed: files\["cpu/model.onnx"\].sha256 must be a string'):
        read_bundle(copy_)
