"""The user's own parity rule, layered on top of whatever default ``rule_for`` returns.

``--atol 1e-3`` replaces a criterion for every output; ``--atol logits=1e-3`` for one output
only. ``--metric package.module:function`` adds a task metric that gates the build. The
defaults themselves live in ``parity/metrics.py``; nothing here changes them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from edgekit.errors import InputError
from edgekit.parity.metrics import ParityRule

CRITERIA = ("atol", "rtol", "min_cosine", "min_top1")
FLAGS = {"atol": "--atol", "rtol": "--rtol", "min_cosine": "--min-cosine", "min_top1": "--min-top1"}


@dataclass(frozen=True)
class UserRule(ParityRule):
    """A ParityRule with per-output criteria and an optional user metric."""

    per_output: tuple[tuple[str, tuple[tuple[str, float], ...]], ...] = ()
    metric: str | None = None

    def for_output(self, name: str) -> ParityRule:
        """The plain rule one output is held to."""
        base = ParityRule(**{f.name: getattr(self, f.name) for f in fields(ParityRule)})
        for output, items in self.per_output:
            if output == name:
                base = replace(base, **dict(items))
        return base

    def to_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in self.for_output("\0").to_dict().items()}
        if self.per_output:
            data["per_output"] = {o: dict(items) for o, items in self.per_output}
        if self.metric:
            data["metric"] = self.metric
        return data


def rule_from_dict(data: Mapping[str, Any]) -> ParityRule:
    """Inverse of ``to_dict`` for either kind of rule (reports read back from parity.json)."""
    plain = {k: v for k, v in data.items() if k not in ("per_output", "metric")}
    if "per_output" not in data and "metric" not in data:
        return ParityRule(**plain)
    per = tuple((o, tuple(sorted(v.items()))) for o, v in (data.get("per_output") or {}).items())
    return UserRule(**plain, per_output=per, metric=data.get("metric"))


def rule_for_output(rule: ParityRule, name: str) -> ParityRule:
    return rule.for_output(name) if isinstance(rule, UserRule) else rule


def parse_criterion(key: str, values: Iterable[str | float] | str | float | None
                    ) -> tuple[float | None, dict[str, float]]:
    """``["1e-3", "logits=1e-2"]`` → (1e-3, {"logits": 1e-2}); one number alone is accepted too."""
    if values is None:
        return None, {}
    items = [values] if isinstance(values, (str, int, float)) else list(values)
    every, per = None, {}
    for item in items:
        name, sep, number = str(item).rpartition("=")
        try:
            value = float(number)
        except ValueError:
            raise InputError(f"{FLAGS[key]} '{item}' is not a number or OUTPUT=NUMBER",
                             note=f"e.g. {FLAGS[key]} 1e-3 or {FLAGS[key]} logits=1e-3") from None
        if value < 0 or (key in ("min_cosine", "min_top1") and value > 1):
            raise InputError(f"{FLAGS[key]} {value} is out of range",
                             note="tolerances are >= 0; --min-cosine and --min-top1 are within 0..1")
        if sep:
            per[name] = value
        else:
            every = value
    return every, per


def with_user_rule(rule: ParityRule, output_names: Iterable[str] | None = None, metric: str | None = None,
                   **criteria: Any) -> ParityRule:
    """``rule`` with the user's criteria on top (``atol=["1e-3"]`` …); unchanged when none is given."""
    unknown = sorted(set(criteria) - set(CRITERIA))
    if unknown:
        raise TypeError(f"unknown parity criteria: {', '.join(unknown)}")
    every: dict[str, float] = {}
    per: dict[str, dict[str, float]] = {}
    for key in CRITERIA:
        value, by_output = parse_criterion(key, criteria.get(key))
        if value is not None:
            every[key] = value
        for name, v in by_output.items():
            per.setdefault(name, {})[key] = v
    names = list(output_names) if output_names is not None else None
    strangers = sorted(n for n in per if names is not None and n not in names)
    if strangers:
        raise InputError(f"tolerance for unknown output(s) {', '.join(strangers)}",
                         note=f"the model's outputs are: {', '.join(names or [])}")
    if not every and not per and not metric:
        return rule
    base = replace(rule, **every)
    plain = {f.name: getattr(base, f.name) for f in fields(ParityRule)}
    return UserRule(**plain, per_output=tuple((o, tuple(sorted(v.items()))) for o, v in sorted(per.items())),
                    metric=metric)


def rule_in_words(rule: ParityRule) -> str:
    """"every output within atol 0.001 + rtol 0.01 of the reference; ..." — what a reviewer reads."""
    def words(r: ParityRule) -> list[str]:
        found = []
        if r.atol is not None or r.rtol is not None:
            found.append(f"|artifact - reference| <= {r.atol or 0:g} + {r.rtol or 0:g} x |reference| elementwise")
        if r.min_cosine is not None:
            found.append(f"cosine similarity per sample >= {r.min_cosine:g}")
        if r.min_top1 is not None:
            found.append(f"top-1 agreement with the reference >= {r.min_top1:g}")
        return found

    base = rule.for_output("\0") if isinstance(rule, UserRule) else rule
    parts = [f"every output: {', '.join(words(base)) or 'no criterion'}"]
    if base.max_accuracy_drop is not None:
        parts.append(f"task accuracy may drop at most {base.max_accuracy_drop:g} points")
    if isinstance(rule, UserRule):
        for name, _ in rule.per_output:
            parts.append(f"output {name}: {', '.join(words(rule.for_output(name)))}")
        if rule.metric:
            parts.append(f"and the user metric {rule.metric} must pass")
    return "; ".join(parts)


def recorded_rule(manifest: Mapping[str, Any]) -> ParityRule | None:
    """The user's rule a bundle was built with, for its golden check on a device. The user metric
    is left out: it needs the user's code and labelled data, which a device does not have."""
    data = (manifest.get("parity") or {}).get("user_rule")
    if not data:
        return None
    rule = rule_from_dict(data)
    return replace(rule, metric=None) if isinstance(rule, UserRule) else rule
