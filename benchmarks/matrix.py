"""`edgekit matrix`: a 3-model × 2-target × 3-precision release, locally (process pool) vs on a
2-node local Ray cluster (both on this machine, bound to 127.0.0.1), and Ray's overhead per cell.

    python benchmarks/matrix.py [--jobs 2] [--simplify]

Models: three ReLU MLPs of growing width as ONNX (built with onnx.helper, seeded random weights),
eval and calibration data seeded random (256 samples). Targets cpu and intel-cpu; precisions
fp32, fp16, int8. Both runs use the same parallelism (``--jobs`` processes locally; Ray nodes
with one ``edgekit-<target>`` slot per target each, ``--jobs`` nodes). Overhead per cell =
(Ray wall time - local wall time) / cells; the per-cell build time inside the worker is shown
for both, so queueing and transfer show separately from the build itself.

Read the figures on an idle machine only. On a busy Linux host with ``sched_autogroup_enabled``
each session gets an equal CPU share, and every Ray node (raylet and its workers) is its own
session while the local pool's workers share the caller's: there Ray gets more CPU and looks
faster (measured: the same warm ``run_group`` took 12 s in a pool worker and 6 s in a Ray
worker at load average 15 on 2 cores; OMP_NUM_THREADS=1 changed nothing).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # keep Ray on 127.0.0.1 (see tests/test_matrix_ray.py)
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

WIDTHS = {"mlp-s": 64, "mlp-m": 256, "mlp-l": 1024}


def make_model(path: Path, width: int, seed: int) -> None:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    dims = [128, width, width, 10]
    nodes, inits, prev = [], [], "x"
    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
        inits.append(numpy_helper.from_array((rng.normal(size=(a, b)) / np.sqrt(a)).astype(np.float32), f"w{i}"))
        nodes.append(helper.make_node("MatMul", [prev, f"w{i}"], [f"m{i}"]))
        prev = f"m{i}"
        if i < len(dims) - 2:
            nodes.append(helper.make_node("Relu", [prev], [f"r{i}"]))
            prev = f"r{i}"
    nodes[-1].output[0] = "y"
    graph = helper.make_graph(nodes, path.stem, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 128])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 10])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))


def write_plan(folder: Path, simplify: bool) -> Path:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 128)).astype(np.float32)
    np.savez(folder / "data.npz", x=x)
    lines = ['targets = ["cpu", "intel-cpu"]', 'precisions = ["fp32", "fp16", "int8"]']
    for i, (name, width) in enumerate(WIDTHS.items()):
        make_model(folder / f"{name}.onnx", width, i)
        lines += [f"[models.{name}]", f'model = "{name}.onnx"', 'eval = "data.npz"', 'calib = "data.npz"',
                  f"no-simplify = {'false' if simplify else 'true'}"]
    plan = folder / "edgekit.matrix.toml"
    plan.write_text("\n".join(lines) + "\n")
    return plan


def run_ray(plan, out: Path, nodes: int) -> tuple[float, float, list]:
    import ray
    from ray.cluster_utils import Cluster

    from edgekit.matrix.runner import run_matrix

    start = time.perf_counter()
    common = {"node_ip_address": "127.0.0.1", "num_cpus": 1, "object_store_memory": 100 * 1024 * 1024,
              "resources": {"edgekit-cpu": 1, "edgekit-intel-cpu": 1}}
    cluster = Cluster(initialize_head=True, head_node_args={**common, "include_dashboard": False})
    try:
        for _ in range(nodes - 1):
            cluster.add_node(**common)
        ray.init(address=cluster.address, _node_ip_address="127.0.0.1", include_dashboard=False,
                 log_to_driver=False)
        ray.get([ray.remote(lambda: 0).options(num_cpus=0).remote() for _ in range(nodes)])  # workers warm
        ready = time.perf_counter() - start
        t = time.perf_counter()
        result = run_matrix(plan, out, cluster=cluster.address)
        return ready, time.perf_counter() - t, result.cells
    finally:
        ray.shutdown()
        cluster.shutdown()


def _autogroup() -> str:
    try:
        return "on" if Path("/proc/sys/kernel/sched_autogroup_enabled").read_text().strip() == "1" else "off"
    except OSError:
        return "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=2, help="local processes = Ray nodes")
    parser.add_argument("--simplify", action="store_true", help="run onnxsim too (slower; default off)")
    args = parser.parse_args()
    from edgekit.matrix.plan import load_plan
    from edgekit.matrix.runner import run_matrix

    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="edgekit-matrix-bench-") as tmp:
        folder = Path(tmp)
        plan = load_plan(write_plan(folder, args.simplify))
        cells = len(plan.cells())
        t = time.perf_counter()
        local = run_matrix(plan, folder / "local", jobs=args.jobs).cells
        local_wall = time.perf_counter() - t
        ready, ray_wall, ray_cells = run_ray(plan, folder / "ray", args.jobs)
    same = all(a.portable_sha256 == b.portable_sha256 and a.status == b.status
               for a, b in zip(local, ray_cells))
    print(f"{len(WIDTHS)} models x 2 targets x 3 precisions = {cells} cells, parallelism {args.jobs}")
    print(f"{'run':<26}{'wall s':>9}{'mean cell s':>13}{'passed':>8}")
    for label, wall, rows in (("local process pool", local_wall, local), (f"ray, {args.jobs} local nodes",
                                                                            ray_wall, ray_cells)):
        print(f"{label:<26}{wall:>9.1f}{np.mean([r.seconds for r in rows]):>13.2f}"
              f"{sum(r.status == 'passed' for r in rows):>8}")
    print(f"ray cluster start: {ready:.1f} s (not in the wall time above)")
    print(f"ray overhead per cell: {(ray_wall - local_wall) / cells:+.2f} s")
    print(f"load average before/after: {load[0]:.1f} / {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; "
          f"sched autogroup: {_autogroup()}")
    print(f"same portable-graph hashes and verdicts locally and on Ray: {same}")


if __name__ == "__main__":
    main()
