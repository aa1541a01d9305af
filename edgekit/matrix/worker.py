"""``edgekit worker``: a thin wrapper over ``ray start`` that advertises what this host can build.

Each available target becomes a Ray custom resource (``edgekit-cpu``, ``edgekit-intel-cpu``, …)
with ``slots`` units (concurrent builds of that target on this node); the host fingerprint
becomes node labels, so a scheduler (and a person reading ``ray status``) can see the hardware.
"""

from __future__ import annotations

import json
import re
import socket
import sys
from pathlib import Path
from typing import Any

from edgekit.matrix.ray_executor import resource_name

_LABEL_VALUE = re.compile(r"[^A-Za-z0-9_.-]+")


def advertised_resources(rows: list[dict[str, Any]], slots: int) -> dict[str, float]:
    """One resource per available target, from ``describe_targets()`` rows."""
    return {resource_name(r["name"]): float(slots) for r in rows if r["available"]}


def host_labels() -> dict[str, str]:
    """The host fingerprint as Ray node labels (values reduced to the characters labels allow)."""
    from edgekit.hostinfo import fingerprint

    facts = fingerprint()
    raw = {"edgekit-host": socket.gethostname(), "edgekit-cpu": facts["cpu"], "edgekit-machine": facts["machine"],
           "edgekit-cores": str(facts["cores"]), "edgekit-isa": "-".join(facts["isa"]) or "none"}
    return {k: _LABEL_VALUE.sub("_", v).strip("_.-")[:63] or "unknown" for k, v in raw.items()}


def ray_start_command(rows: list[dict[str, Any]], *, address: str | None, head: bool, slots: int,
                      node_ip: str | None, extra: tuple[str, ...] = ()) -> list[str]:
    """The ``ray start`` command line for this host."""
    ray = Path(sys.executable).with_name("ray")  # the ray beside this Python, also when not on PATH
    exe = str(ray) if ray.is_file() else "ray"
    cmd = [exe, "start", "--head"] if head else [exe, "start", f"--address={address}"]
    if node_ip:
        cmd.append(f"--node-ip-address={node_ip}")
    cmd.append(f"--resources={json.dumps(advertised_resources(rows, slots), sort_keys=True)}")
    labels = host_labels()
    cmd.append("--labels=" + ",".join(f"{k}={v}" for k, v in sorted(labels.items())))
    if head:
        cmd.append("--include-dashboard=false")
    return [*cmd, *extra]
