"""`edgekit matrix --cluster` on a real two-node Ray cluster on this machine.

Every Ray process binds 127.0.0.1 (dashboard off); the test stops the cluster it started by its
own handle. The head offers only ``edgekit-cpu``; the second node offers ``edgekit-cpu`` and
``edgekit-intel-cpu``; nobody offers ``edgekit-nvidia-gpu``.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

# Ray turns 127.0.0.1 in an address into this host's outward IP (and probes a route to find it)
# unless it thinks clusters are off; this keeps every address, ours and the workers', on loopback.
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow

from edgekit.matrix.plan import load_plan  # noqa: E402
from tests.matrix_helpers import mlp_onnx, write_crash_module  # noqa: E402

LOOPBACK = "127.0.0.1"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    from ray._private import ray_constants
    from ray.cluster_utils import Cluster

    assert not ray_constants.ENABLE_RAY_CLUSTER, "ray was imported before the loopback setting"
    work = tmp_path_factory.mktemp("ray")
    crash = write_crash_module(work)
    saved = {k: os.environ.get(k) for k in ("PYTHONPATH", "EDGEKIT_TEST_CRASH_ONCE")}
    # Raylets (and so their workers) inherit this environment: the crash module is importable there.
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(work), saved["PYTHONPATH"]) if p)
    os.environ["EDGEKIT_TEST_CRASH_ONCE"] = str(work / "crashed-once")
    common = {"node_ip_address": LOOPBACK, "num_cpus": 1, "object_store_memory": 80 * 1024 * 1024}
    c = Cluster(initialize_head=True, head_node_args={**common, "include_dashboard": False,
                                                      "resources": {"edgekit-cpu": 1}})
    try:
        intel = c.add_node(**common, resources={"edgekit-cpu": 1, "edgekit-intel-cpu": 1})
        assert c.address.startswith(f"{LOOPBACK}:")
        ray.init(address=c.address, _node_ip_address=LOOPBACK, include_dashboard=False, log_to_driver=False)
        yield {"cluster": c, "intel_node": intel.node_id, "work": work, "crash": crash}
    finally:
        ray.shutdown()
        c.shutdown()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture(scope="module")
def ray_run(cluster):
    """One matrix on the cluster: placement, a target nobody offers, a worker killed mid-build
    (retried), and a model that kills every worker it runs on."""
    from edgekit.matrix.runner import run_matrix

    work = cluster["work"]
    mlp_onnx(work / "mlp.onnx")
    (work / "edgekit.matrix.toml").write_text(
        'targets = ["cpu", "intel-cpu", "nvidia-gpu"]\n'
        '[models.mlp]\nmodel = "mlp.onnx"\neval = "mlp.npz"\nno-simplify = true\n'
        'parity-data = "mlp.npz"\nparity-shards = 2\n'
        f'[models.once]\nmodel = "mlp.onnx"\neval = "{cluster["crash"]}:data_once"\ntargets = ["cpu"]\n'
        'no-simplify = true\n'
        f'[models.always]\nmodel = "mlp.onnx"\neval = "{cluster["crash"]}:data_always"\ntargets = ["cpu"]\n'
        'no-simplify = true\n')
    plan = load_plan(work / "edgekit.matrix.toml")
    lines: list[str] = []
    result = run_matrix(plan, work / "out", cluster=cluster["cluster"].address, max_retries=1,
                        on_result=lambda r: lines.append(r.key))
    return plan, result, {r.key: r for r in result.cells}, lines


def test_target_builds_land_on_nodes_that_advertise_them(ray_run):
    _, result, cells, lines = ray_run
    nodes = {n["NodeID"]: n["Resources"] for n in ray.nodes() if n["Alive"]}
    for cell in cells.values():
        if cell.status in ("passed", "failed"):
            assert f"edgekit-{cell.target}" in nodes[cell.host["ray_node_id"]], cell
    intel = cells["mlp/fp32/intel-cpu"]
    assert intel.status == "passed" and "edgekit-intel-cpu" in nodes[intel.host["ray_node_id"]]
    # The second node offers both targets: the model x precision was one compile there.
    cpu = cells["mlp/fp32/cpu"]
    assert cpu.host["ray_node_id"] == intel.host["ray_node_id"]
    assert cpu.bundle == intel.bundle == "cells/mlp/fp32.edgekit"
    assert sorted(lines) == sorted(cells)  # one progress report per cell
    manifest = json.loads((result.out / "bundles" / "mlp-fp32.edgekit" / "manifest.json").read_text())
    assert [t["name"] for t in manifest["targets"]] == ["cpu", "intel-cpu"]


def test_parity_data_is_checked_with_ray_data_on_the_cluster(ray_run):
    _, result, cells, _ = ray_run
    for key in ("mlp/fp32/cpu", "mlp/fp32/intel-cpu"):
        checked = cells[key].dataset_parity
        assert checked["samples"] == 64 and checked["passed"] and checked["shards"] == 2, checked
    assert cells["once/fp32/cpu"].dataset_parity is None  # no parity-data for that model
    assert "passes on all 64 parity-data samples" in (result.out / "matrix.md").read_text()


def test_a_target_no_node_offers_is_reported_not_failed(ray_run):
    _, result, cells, _ = ray_run
    gpu = cells["mlp/fp32/nvidia-gpu"]
    assert gpu.status == "no-worker" and "no worker for nvidia-gpu" in gpu.message
    assert result.document["passed"]  # nothing is required


def test_a_worker_killed_mid_build_is_retried_and_a_crashing_model_is_its_cells_failure(ray_run, cluster):
    _, _, cells, _ = ray_run
    assert (cluster["work"] / "crashed-once").is_file()  # the first try really died
    assert cells["once/fp32/cpu"].status == "passed"
    always = cells["always/fp32/cpu"]
    assert always.status == "error" and "died" in always.message


def test_local_and_ray_runs_give_the_same_portable_graphs(ray_run, tmp_path):
    from edgekit.matrix.local import run_local

    plan, _, cells, _ = ray_run
    local = run_local(plan, [c for c in plan.cells() if c.model == "mlp" and c.target != "nvidia-gpu"],
                      tmp_path, lambda _r: None)
    assert {r.key: r.portable_sha256 for r in local} == {
        k: cells[k].portable_sha256 for k in ("mlp/fp32/cpu", "mlp/fp32/intel-cpu")}
    assert all(r.status == cells[r.key].status == "passed" for r in local)


def test_sharded_parity_on_ray_equals_single_process(ray_run, cluster):
    from edgekit.matrix.shards import ShardEvaluator, merge_states, ray_sharded_parity
    from edgekit.parity.metrics import rule_for

    work = cluster["work"]
    model = mlp_onnx(work / "big.onnx", seed=1, samples=10_240)  # 5 shards of 32 batches of 64
    bundle = str(ray_run[1].out / "bundles" / "mlp-fp32.edgekit")
    data = np.load(model.with_suffix(".npz"))
    feeds, labels = {"x": data["x"]}, data["labels"]
    rule = rule_for("fp32")
    single = merge_states([ShardEvaluator(str(work / "mlp.onnx"), bundle, "intel-cpu").evaluate((feeds, labels), rule)],
                          rule)
    sharded = ray_sharded_parity(str(work / "mlp.onnx"), bundle, feeds, labels, rule, shards=5, actors=2,
                                 target="intel-cpu")
    assert sharded.samples == 10_240 and sharded.outputs == single.outputs
    assert sharded.accuracy == single.accuracy and sharded.passed == single.passed


def test_artifacts_folder_instead_of_the_object_store(ray_run, cluster, tmp_path):
    from edgekit.matrix.plan import Plan
    from edgekit.matrix.runner import run_matrix

    plan = ray_run[0]
    one = Plan(plan.origin, (plan.model("mlp"),), ("intel-cpu",), ("fp32",))
    shared = tmp_path / "shared"
    result = run_matrix(one, tmp_path / "out", cluster=cluster["cluster"].address, artifacts=shared)
    assert [c.status for c in result.cells] == ["passed"]
    assert (shared / "cells/mlp/fp32/intel-cpu.edgekit/manifest.json").is_file()  # written by the worker
    assert (tmp_path / "out/bundles/mlp-fp32.edgekit/manifest.json").is_file()


def test_dataset_parity_with_ray_data_equals_one_process(ray_run, cluster, tmp_path):
    """A folder of 10,240 samples in 10 files, mapped with Ray Data over two actors placed on the
    node that offers intel-cpu: the merged verdict equals the one-process verdict over the same units."""
    from edgekit.matrix.dataset_parity import DatasetJob, local_dataset_parity, ray_dataset_parity
    from edgekit.parity.metrics import rule_for

    work = cluster["work"]
    model = mlp_onnx(work / "files.onnx", seed=2, samples=10_240)
    data = np.load(model.with_suffix(".npz"))
    folder = tmp_path / "eval"
    folder.mkdir()
    for i in range(10):
        np.savez(folder / f"part-{i}.npz", x=data["x"][i * 1024:(i + 1) * 1024],
                 labels=data["labels"][i * 1024:(i + 1) * 1024])
    bundle = str(ray_run[1].out / "bundles" / "mlp-fp32.edgekit")
    job = DatasetJob(str(work / "mlp.onnx"), bundle, "intel-cpu", rule_for("fp32"), batch=64)
    single = local_dataset_parity(job, str(folder), units=5)
    sharded = ray_dataset_parity(job, str(folder), units=5, actors=2, resources={"edgekit-intel-cpu": 0.01})
    assert sharded.samples == single.samples == 10_240
    assert sharded.outputs == single.outputs and sharded.histograms == single.histograms
    assert sharded.accuracy == single.accuracy and sharded.passed == single.passed
