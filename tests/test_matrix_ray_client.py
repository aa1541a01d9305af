"""`edgekit matrix --cluster ray://HOST:PORT`: the Ray Client path, against a real head on loopback.

The head (dashboard off, every address 127.0.0.1, a Ray Client server on a free port) is started
and stopped by this test through its own handle; the matrix runs in a separate `edgekit` process
that only knows the ray:// address, as a user's laptop would.
"""

from __future__ import annotations

import json
import os
import socket

import pytest

os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # keep Ray's addresses on loopback (test_matrix_ray.py)
ray = pytest.importorskip("ray")
pytest.importorskip("grpc", reason="Ray Client (ray://) needs grpcio: pip install 'ray[client]'")
pytestmark = pytest.mark.slow

from tests.conftest import run_cli  # noqa: E402
from tests.matrix_helpers import mlp_onnx  # noqa: E402

LOOPBACK = "127.0.0.1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def test_one_cell_matrix_through_a_ray_client_address(tmp_path) -> None:
    from ray.cluster_utils import Cluster

    port = _free_port()
    head = Cluster(initialize_head=True, head_node_args={
        "node_ip_address": LOOPBACK, "num_cpus": 1, "include_dashboard": False,
        "object_store_memory": 80 * 1024 * 1024, "resources": {"edgekit-cpu": 1},
        "ray_client_server_port": port})
    try:
        mlp_onnx(tmp_path / "mlp.onnx")
        (tmp_path / "edgekit.matrix.toml").write_text(
            'targets = ["cpu"]\nprecisions = ["fp32"]\n'
            '[models.mlp]\nmodel = "mlp.onnx"\neval = "mlp.npz"\nno-simplify = true\n')
        proc = run_cli("matrix", str(tmp_path / "edgekit.matrix.toml"), "--out", str(tmp_path / "out"),
                       "--cluster", f"ray://{LOOPBACK}:{port}")
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert "mlp/fp32/cpu: PASS" in proc.stderr  # the one progress line (stderr is no terminal)
        doc = json.loads((tmp_path / "out" / "matrix.json").read_text())
        assert doc["executor"] == f"ray (ray://{LOOPBACK}:{port})"
        [cell] = doc["cells"]
        assert (cell["model"], cell["target"], cell["precision"], cell["status"]) == ("mlp", "cpu", "fp32", "passed")
        assert (tmp_path / "out" / doc["bundles"]["mlp/fp32"] / "manifest.json").is_file()
    finally:
        head.shutdown()
