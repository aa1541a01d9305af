"""`edgekit matrix`: plan parsing, the local process-pool run and its reports, exact sharded parity."""

from __future__ import annotations

import json
import random
import sys

import numpy as np
import pytest

from edgekit.cli import main
from edgekit.errors import InputError
from edgekit.matrix.plan import Cell, load_plan
from tests.matrix_helpers import mlp_onnx, write_crash_module


def test_plan_reads_models_and_expands_auto(tmp_path):
    mlp_onnx(tmp_path / "mlp.onnx")
    (tmp_path / "edgekit.matrix.toml").write_text(
        'targets = ["cpu", "intel-cpu"]\nprecisions = ["auto"]\nrequired = ["cpu"]\nmax-accuracy-drop = 2\n'
        '[models.a]\nmodel = "mlp.onnx"\neval = "mlp.npz"\ncalib = "mlp.npz"\n'
        '[models.b]\nmodel = "mlp.onnx"\ntargets = ["cpu"]\nprecisions = ["auto", "fp32"]\n')
    plan = load_plan(tmp_path)  # a folder: its edgekit.matrix.toml
    a = plan.model("a")
    assert a.model == str(tmp_path / "mlp.onnx") and a.options.eval_data == str(tmp_path / "mlp.npz")
    assert a.options.max_accuracy_drop == 2.0 and plan.required == ("cpu",)
    cells = plan.cells()
    assert [c for c in cells if c.model == "a"] == [Cell("a", p, t) for p in ("fp32", "fp16", "int8")
                                                   for t in ("cpu", "intel-cpu")]
    # No calibration data: auto leaves int8 out rather than failing the cell.
    assert [c.precision for c in cells if c.model == "b"] == ["fp32", "fp16"]


def test_plan_option_keys_are_the_compile_option_table(tmp_path):
    """Every compile flag but those the matrix sets per cell is a model key (and a top-level default),
    parsed by its Option row into the model's CompileOptions."""
    from edgekit.compiler.options import COMPILE_OPTIONS
    from edgekit.matrix.plan import DATA_KEYS, MATRIX_FLAGS, MODEL_KEYS, parse_plan

    assert set(MODEL_KEYS) - {"model", "targets", "precisions", *DATA_KEYS} == \
        {o.flag for o in COMPILE_OPTIONS} - set(MATRIX_FLAGS)
    plan = parse_plan({"keep-fp32": True, "calib-samples": 16, "models": {
        "m": {"model": "x.onnx", "static-shapes": True, "no-fallback": True, "input": "x:1x4", "weights": "w.st",
              "calib-samples": 32, "exporter": "torchscript", "calib": "pkg.mod:data"},
        "n": {"model": "x.onnx"}}}, "plan", tmp_path)
    m, n = plan.model("m").options, plan.model("n").options
    assert m.static_shapes and m.keep_fp32 and not m.fallback and m.calib_samples == 32 and n.calib_samples == 16
    assert m.inputs[0].name == "x" and m.inputs[0].shape == (1, 4) and m.exporter == "torchscript"
    assert m.weights == tmp_path / "w.st" and m.calibration == "pkg.mod:data" and n.keep_fp32


def test_plan_in_pyproject_is_not_a_compile_setting(tmp_path):
    from edgekit.config import load_config

    (tmp_path / "pyproject.toml").write_text(
        '[tool.edgekit]\ntarget = "cpu"\n[tool.edgekit.matrix]\ntargets = ["cpu"]\n'
        '[tool.edgekit.matrix.models.m]\nmodel = "pkg.mod:make"\n')
    assert load_plan(tmp_path / "pyproject.toml").models[0].model == "pkg.mod:make"
    assert load_config(tmp_path) == {"compile": {"target": "cpu"}}


@pytest.mark.parametrize("text, expected", [
    ('tagets = ["cpu"]\n[models.m]\nmodel = "x.onnx"\n', "unknown key(s): tagets"),
    ('[models.m]\nmodel = "x.onnx"\nevl = "d.npz"\n', "[models.m] has unknown key(s): evl"),
    ('targets = ["tpu"]\n[models.m]\nmodel = "x.onnx"\n', "targets names unknown value(s): tpu"),
    ('required = ["intel-cpu"]\n[models.m]\nmodel = "x.onnx"\n', "required names unknown value(s): intel-cpu"),
    ('precisions = ["int4"]\n[models.m]\nmodel = "x.onnx"\n', "precisions names unknown value(s): int4"),
    ('targets = ["cpu"]\n', "lists no models"),
    ('[models.m]\nweights = "w.safetensors"\n', "has no model"),
    ('[models.m]\nmodel = "x.onnx"\nno-simplify = "yes"\n', "no-simplify must be true or false"),
    ('targets = [\n', "cannot read matrix plan"),
    ('[models.m]\nmodel = "x.onnx"\nout = "o.edgekit"\n', "[models.m] has unknown key(s): out"),
    ('[models.m]\nmodel = "x.onnx"\ncalib-method = "mean"\n', "calib-method names unknown value: mean"),
    ('[models.m]\nmodel = "x.onnx"\ninput = "x:1xq"\n', "[models.m]: --input 'x:1xq' is not of the form"),
    ('calib-samples = 0\n[models.m]\nmodel = "x.onnx"\n', "[models.m]: --calib-samples must be at least 1"),
    ('opset = "17"\n[models.m]\nmodel = "x.onnx"\n', "opset must be an integer"),
    ('[models.m]\nmodel = "x.onnx"\nparity-shards = 0\n', "parity-shards must be an integer >= 1"),
    ('parity-data = 3\n[models.m]\nmodel = "x.onnx"\n', "parity-data must be a path"),
])
def test_bad_plan_is_one_line_and_exit_2(tmp_path, capsys, text, expected):
    plan = tmp_path / "edgekit.matrix.toml"
    plan.write_text(text)
    with pytest.raises(InputError):
        load_plan(plan)
    assert main(["matrix", str(plan), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert expected in err and len(err.splitlines()) == 1, err


def test_local_matrix_runs_every_cell_and_reports(tmp_path, capsys, monkeypatch):
    """One real run: passes, a parity failure, a build error, a crashing model, a target with no
    worker; one merged bundle per model x precision; exit 3 listing the required failures."""
    import jsonschema

    import edgekit
    from edgekit.matrix.report import SCHEMA_FILE

    mlp_onnx(tmp_path / "mlp.onnx")
    tiny = np.load(tmp_path / "mlp.npz")["x"] * 1e-4  # int8 calibrated on a far too small range fails parity
    np.savez(tmp_path / "tiny.npz", x=tiny)
    crash = write_crash_module(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))  # spawned workers inherit sys.path
    (tmp_path / "edgekit.matrix.toml").write_text(
        'targets = ["cpu", "intel-cpu", "nvidia-gpu"]\nrequired = ["cpu"]\n'
        '[models.mlp]\nmodel = "mlp.onnx"\neval = "mlp.npz"\nno-simplify = true\n'
        '[models.big]\nmodel = "mlp.onnx"\neval = "mlp.npz"\ncalib = "tiny.npz"\nprecisions = ["int8"]\n'
        'targets = ["cpu"]\nno-simplify = true\nno-fallback = true\n'
        '[models.missing]\nmodel = "mlp.onnx"\neval = "nowhere.npz"\ntargets = ["cpu"]\nno-simplify = true\n'
        f'[models.crash]\nmodel = "mlp.onnx"\neval = "{crash}:data_always"\ntargets = ["intel-cpu"]\n'
        'no-simplify = true\n')
    out = tmp_path / "out"
    code = main(["matrix", str(tmp_path / "edgekit.matrix.toml"), "--out", str(out), "--jobs", "2"])
    err = capsys.readouterr().err
    assert code == 3, err
    doc = json.loads((out / "matrix.json").read_text())
    jsonschema.Draft202012Validator(json.loads(SCHEMA_FILE.read_text())).validate(doc)
    status = {f"{c['model']}/{c['precision']}/{c['target']}": c["status"] for c in doc["cells"]}
    assert status == {"mlp/fp32/cpu": "passed", "mlp/fp32/intel-cpu": "passed", "mlp/fp32/nvidia-gpu": "no-worker",
                      "big/int8/cpu": "failed", "missing/fp32/cpu": "error", "crash/fp32/intel-cpu": "error"}
    for key in status:  # one progress line per cell, as it finishes
        assert sum(line.startswith(f"{key}: ") for line in err.splitlines()) == 1, err
    failures = doc["required_failures"]
    assert [f.split(":")[0] for f in failures] == ["big/int8/cpu", "missing/fp32/cpu"]
    assert "nowhere.npz" in failures[1] and all(k in err for k in ("big/int8/cpu", "missing/fp32/cpu"))
    cells = {f"{c['model']}/{c['precision']}/{c['target']}": c for c in doc["cells"]}
    assert "no worker for nvidia-gpu" in cells["mlp/fp32/nvidia-gpu"]["message"]
    assert "died" in cells["crash/fp32/intel-cpu"]["message"]
    passed = cells["mlp/fp32/cpu"]
    assert passed["p50_ms"] > 0 and passed["size_bytes"] > 0 and "accuracy" in passed["key_metric"]
    assert passed["portable_sha256"] == cells["mlp/fp32/intel-cpu"]["portable_sha256"]
    assert doc["fastest"] == {"mlp/cpu": "fp32", "mlp/intel-cpu": "fp32"}  # failed cells are never chosen
    html = (out / "matrix.html").read_text()
    link = cells["big/int8/cpu"]["parity_html"]
    assert f'href="{link}"' in html and (out / link).is_file()
    assert "big/int8/cpu" in (out / "matrix.md").read_text()
    # The merged bundle: every target that passed, each with the host it was built on.
    assert doc["bundles"] == {"mlp/fp32": "bundles/mlp-fp32.edgekit"}
    merged = out / "bundles" / "mlp-fp32.edgekit"
    manifest = json.loads((merged / "manifest.json").read_text())
    assert [t["name"] for t in manifest["targets"]] == ["cpu", "intel-cpu"]
    assert all(t["build_host"]["hostname"] for t in manifest["targets"])
    x = np.load(tmp_path / "mlp.npz")["x"][:4]
    a = edgekit.load(merged, "cpu").run({"x": x})["y"]
    b = edgekit.load(merged, "intel-cpu").run({"x": x})["y"]
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


def test_sharded_parity_equals_single_process_on_10k_samples(tmp_path):
    """Shards merged in a shuffled order after a JSON round trip give exactly the single-pass
    metrics, histogram, accuracy and verdict. (Shard edges fall on batch edges: int8-dynamic
    quantizes each batch with its own scale, so a different batching is a different candidate.)"""
    from edgekit.compiler.options import CompileOptions
    from edgekit.compiler.pipeline import compile_model
    from edgekit.matrix.shards import ShardEvaluator, merge_states, split
    from edgekit.parity.metrics import rule_for

    model = mlp_onnx(tmp_path / "mlp.onnx", samples=10_000)
    opts = CompileOptions.from_keywords(precision="int8-dynamic", simplify=False, out=tmp_path / "m.edgekit")
    compile_model(str(model), None, opts)
    data = np.load(model.with_suffix(".npz"))
    feeds, labels = {"x": data["x"]}, data["labels"]
    rule = rule_for("int8-dynamic")

    evaluator = ShardEvaluator(str(model), str(tmp_path / "m.edgekit"), batch=50)
    single = merge_states([evaluator.evaluate((feeds, labels), rule)], rule)
    states = [json.loads(json.dumps(evaluator.evaluate(s, rule))) for s in split(feeds, labels, 8)]
    random.Random(3).shuffle(states)
    sharded = merge_states(states, rule)

    assert single.samples == sharded.samples == 10_000
    assert sharded.outputs == single.outputs  # every float bit for bit, failures included
    assert sharded.histograms == single.histograms and sum(single.histograms["y"]) == 100_000
    assert sharded.accuracy == single.accuracy and sharded.passed == single.passed
    assert single.outputs["y"].max_abs > 0  # int8 differs: the sums compared are not all zeros
    # The per-kind statistics (issue 15) merge too: the cosines of all 10k samples, the output kind.
    assert single.outputs["y"].mean_cosine < 1.0 and single.outputs["y"].kind == "logits"


def test_exact_sum_is_order_independent_where_float_sum_is_not():
    from edgekit.matrix.accumulate import ExactSum

    values = np.array([1e16, 1.0, -1e16, 1e-3] * 50 + list(np.random.default_rng(0).normal(size=500)))
    a, b = ExactSum(), ExactSum()
    a.add_many(values)
    for part in np.array_split(values[::-1], 9):
        shard = ExactSum()
        shard.add_many(part)
        b.merge(shard)
    assert a.value == b.value == pytest.approx(float(np.sum(values[200:])) + 50 * (1.0 + 1e-3), rel=1e-12)


def test_worker_advertises_one_resource_per_available_target():
    from edgekit.matrix.worker import ray_start_command
    from edgekit.targets import describe_targets

    rows = describe_targets()
    cmd = ray_start_command(rows, address="127.0.0.1:6379", head=False, slots=2, node_ip="127.0.0.1")
    resources = json.loads(next(a for a in cmd if a.startswith("--resources=")).split("=", 1)[1])
    assert resources == {f"edgekit-{r['name']}": 2.0 for r in rows if r["available"]}
    assert "edgekit-cpu" in resources and "edgekit-nvidia-gpu" not in resources  # no GPU on the CPU test host
    labels = next(a for a in cmd if a.startswith("--labels="))
    assert "edgekit-host=" in labels and "--node-ip-address=127.0.0.1" in cmd and "--address=127.0.0.1:6379" in cmd


def test_import_edgekit_does_not_import_ray():
    import subprocess

    code = "import edgekit, edgekit.matrix.plan, edgekit.runtimes, sys; print('ray' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("cmd", ["matrix", "worker"])
def test_help_without_ray_or_heavy_packages(cmd):
    import subprocess

    from tests.test_import_hygiene import BLOCKED, blocker

    code = blocker((*BLOCKED, "ray")) + f"from edgekit.cli import main; raise SystemExit(main([{cmd!r}, '--help']))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Usage" in proc.stdout


def test_a_target_that_cannot_build_fails_alone_in_a_shared_compile(tmp_path):
    """OpenVINO cannot convert ai.onnx.ml Scaler, onnxruntime runs it: the model × precision's one
    compile fails on intel-cpu, and the cells are rebuilt one by one so cpu still passes."""
    import onnx
    from onnx import TensorProto, helper

    from edgekit.compiler.options import CompileOptions
    from edgekit.matrix.compiler import run_group
    from edgekit.matrix.plan import ModelPlan

    graph = helper.make_graph(
        [helper.make_node("Scaler", ["x"], ["y"], domain="ai.onnx.ml", offset=[0.5] * 4, scale=[2.0] * 4)], "s",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 4])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 3)])
    model.ir_version = 8
    onnx.save(model, str(tmp_path / "s.onnx"))
    cells = [Cell("s", "fp32", "cpu"), Cell("s", "fp32", "intel-cpu")]
    plan = ModelPlan("s", str(tmp_path / "s.onnx"), CompileOptions(simplify=False))
    cpu, intel = run_group(plan, cells, 0, tmp_path / "out")
    assert cpu.status == "passed" and cpu.bundle == "cells/s/fp32/cpu.edgekit"
    assert intel.status == "error" and "intel-cpu" in intel.message and intel.bundle is None


def test_dataset_parity_over_files_equals_one_pass(tmp_path):
    """A data set given as a folder of .npz files (and as one .npz) cut into units: the units'
    states, merged, give exactly the metrics and verdict of one pass over the same batches."""
    from edgekit.compiler.options import CompileOptions
    from edgekit.compiler.pipeline import compile_model
    from edgekit.data.units import split_units
    from edgekit.matrix.dataset_parity import DatasetJob, local_dataset_parity
    from edgekit.matrix.shards import ShardEvaluator, merge_states
    from edgekit.parity.metrics import rule_for

    model = mlp_onnx(tmp_path / "mlp.onnx", samples=1024)
    opts = CompileOptions.from_keywords(precision="int8-dynamic", simplify=False, out=tmp_path / "m.edgekit")
    compile_model(str(model), None, opts)
    data = np.load(model.with_suffix(".npz"))
    folder = tmp_path / "shards"
    folder.mkdir()
    for i in range(8):  # 8 files of 128 samples: file edges fall on batch edges (64)
        np.savez(folder / f"part-{i:02d}.npz", x=data["x"][i * 128:(i + 1) * 128],
                 labels=data["labels"][i * 128:(i + 1) * 128])
    rule = rule_for("int8-dynamic")
    job = DatasetJob(str(model), str(tmp_path / "m.edgekit"), None, rule, batch=64)
    one = merge_states([ShardEvaluator(job.reference_onnx, job.bundle, batch=64).evaluate(
        ({"x": data["x"]}, data["labels"]), rule)], rule)

    assert [len(u["files"]) for u in split_units(folder, 3)] == [3, 2, 3]
    for source in (folder, model.with_suffix(".npz")):
        verdict = local_dataset_parity(job, str(source), units=4)
        assert verdict.samples == 1024 and verdict.outputs == one.outputs
        assert verdict.accuracy == one.accuracy and verdict.passed == one.passed
    with pytest.raises(InputError, match="cannot cut"):
        split_units(tmp_path / "missing", 2)


def test_matrix_checks_every_passing_cell_on_the_whole_parity_data(tmp_path):
    """parity-data: after the build, each passing cell is compared on all of a large data set (in
    units); int8 calibrated on a narrow range passes its small eval set and fails on the data set,
    whose later files hold inputs 30x larger; fp32 passes on every sample."""
    import jsonschema

    from edgekit.matrix.report import SCHEMA_FILE
    from edgekit.matrix.runner import run_matrix

    mlp_onnx(tmp_path / "mlp.onnx", samples=256)
    x = np.load(tmp_path / "mlp.npz")["x"]
    (tmp_path / "big").mkdir()
    for i in range(4):
        np.savez(tmp_path / "big" / f"part-{i}.npz", x=x[i * 64:(i + 1) * 64] * (30 if i >= 2 else 1))
    (tmp_path / "edgekit.matrix.toml").write_text(
        'targets = ["cpu"]\nprecisions = ["fp32", "int8"]\nparity-data = "big"\nparity-shards = 2\n'
        '[models.mlp]\nmodel = "mlp.onnx"\neval = "mlp.npz"\ncalib = "mlp.npz"\nno-simplify = true\n'
        'no-fallback = true\n')
    plan = load_plan(tmp_path)
    assert plan.model("mlp").parity_data == str(tmp_path / "big") and plan.model("mlp").options.keep_fp32
    result = run_matrix(plan, tmp_path / "out")
    cells = {c.key: c for c in result.cells}
    fp32, int8 = cells["mlp/fp32/cpu"], cells["mlp/int8/cpu"]
    assert fp32.status == "passed" and fp32.dataset_parity["samples"] == 256 and fp32.dataset_parity["passed"]
    assert int8.parity["passed"], "int8 passes on the small eval set"
    assert int8.status == "failed" and not int8.dataset_parity["passed"]
    assert "on parity-data (256 samples)" in int8.message
    doc = json.loads((tmp_path / "out" / "matrix.json").read_text())
    jsonschema.validate(doc, json.loads(SCHEMA_FILE.read_text()))
    assert "passes on all 256 parity-data samples" in (tmp_path / "out" / "matrix.md").read_text()
