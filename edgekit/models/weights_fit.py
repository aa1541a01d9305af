"""What exactly does not fit when a state dict is refused: torch's message is many lines,
and its first line alone ("Error(s) in loading state_dict for Net:") says nothing."""

from __future__ import annotations

from typing import Any


def name_list(keys: list[str], limit: int = 5) -> str:
    """``a, b, c, … (+7 more)``: enough to recognise a prefix problem without a wall of text."""
    shown = ", ".join(keys[:limit])
    return shown + (f", … (+{len(keys) - limit} more)" if len(keys) > limit else "")


def describe_mismatch(model: Any, state: dict[str, Any]) -> str:
    """Missing keys, unexpected keys and shape mismatches between ``model`` and ``state``."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [f"{k} {list(state[k].shape)} vs model {list(own[k].shape)}" for k in sorted(set(own) & set(state))
              if hasattr(state[k], "shape") and tuple(state[k].shape) != tuple(own[k].shape)]
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing key(s): {name_list(missing)}")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected key(s): {name_list(unexpected)}")
    if shapes:
        parts.append(f"{len(shapes)} shape mismatch(es): {name_list(shapes, 3)}")
    if missing and unexpected and any(u.endswith(m) or m.endswith(u) for u in unexpected[:20] for m in missing[:20]):
        parts.append("the names differ by a prefix (e.g. 'module.' from DataParallel)")
    return "; ".join(parts)
