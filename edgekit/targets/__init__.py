"""Targets: the build half of each backend (``edgekit/backends/<backend>/target.py``), found
through the one registry ``edgekit.registry.BACKENDS`` so that listing them imports no backend."""

from __future__ import annotations

import difflib
import importlib
from typing import Any

from edgekit.errors import InputError
from edgekit.registry import BACKENDS
from edgekit.targets.base import Target, TargetBuildError

TARGETS: dict[str, str] = {b.target: b.builder for b in BACKENDS}  # a view of the one registry

# What users coming from other tools type for a target: suggested, never silently substituted.
ALIASES = {"gpu": "nvidia-gpu", "cuda": "nvidia-gpu", "tensorrt": "nvidia-gpu", "trt": "nvidia-gpu",
           "nvidia": "nvidia-gpu", "openvino": "intel-cpu", "ov": "intel-cpu", "intel": "intel-cpu",
           "onnxruntime": "cpu", "ort": "cpu"}

__all__ = ["TARGETS", "Target", "TargetBuildError", "get_target", "parse_targets", "describe_targets"]


def get_target(name: str) -> Target:
    if name not in TARGETS:
        key = name.strip().lower()
        close = [key] if key in TARGETS else [ALIASES[key]] if key in ALIASES else \
            difflib.get_close_matches(key, list(TARGETS), n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        raise InputError(f"unknown target '{name}'", note=f"{hint}choose from: {', '.join(TARGETS)}")
    module_name, _, cls_name = TARGETS[name].partition(":")
    return getattr(importlib.import_module(module_name), cls_name)()


def parse_targets(text: str | list[str] | tuple[str, ...]) -> list[str]:
    """``"cpu,intel-cpu"`` → ``["cpu", "intel-cpu"]``, each checked, order kept."""
    names = text.split(",") if isinstance(text, str) else list(text)
    names = [n.strip() for n in names if n.strip()]
    if not names:
        raise InputError("no target given", note=f"choose from: {', '.join(TARGETS)}")
    for name in names:
        get_target(name)
    if len(set(names)) != len(names):
        raise InputError(f"target list '{','.join(names)}' names a target twice")
    return names


def describe_targets() -> list[dict[str, Any]]:
    """Every target with its backend, version, and availability (or why not)."""
    rows = []
    for name in TARGETS:
        target = get_target(name)
        reason = target.probe()
        rows.append({
            "name": name,
            "backend": target.backend,
            "version": target.version(),
            "available": reason is None,
            "reason": reason,
        })
    return rows
