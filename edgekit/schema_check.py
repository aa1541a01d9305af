"""JSON Schema checks of edgekit's own published schemas (``manifest.schema.json``).

``jsonschema`` does the work where it is installed; without it a built-in validator implements
exactly the keywords those schemas use (``KEYWORDS``) with jsonschema's semantics, so both give
the same verdicts at the same paths. Both report :class:`Problem` records, and one message is
worded from them, so a user sees the same line whichever validator ran. jsonschema is imported
inside a function only: ``import edgekit`` stays light.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

# The keywords the built-in validator implements; a schema using any other one is refused by it.
KEYWORDS = frozenset({"$ref", "$defs", "type", "required", "properties", "additionalProperties", "items",
                      "enum", "pattern", "minimum", "minItems", "minLength", "anyOf"})
ANNOTATIONS = frozenset({"$schema", "$id", "title", "description", "$comment"})
_NAMES = {"object": "an object", "array": "an array", "string": "a string", "integer": "an integer",
          "number": "a number", "boolean": "a boolean", "null": "null"}
_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")

PathPart = str | int


@dataclass(frozen=True)
class Problem:
    """One way a document breaks a schema: where, which keyword, and what the keyword asked for."""

    path: tuple[PathPart, ...]
    keyword: str
    expected: Any = field(compare=False)  # the keyword's value in the schema
    instance: Any = field(compare=False, repr=False)
    schema: Mapping[str, Any] = field(compare=False, repr=False)  # the subschema holding the keyword

    @property
    def where(self) -> str:
        """The field path as a reader writes it: ``targets[0].files["cpu/model.onnx"]``."""
        text = ""
        for part in self.path:
            if isinstance(part, int):
                text += f"[{part}]"
            elif _PLAIN_KEY.match(part):
                text += f".{part}" if text else part
            else:
                text += f"[{json.dumps(part)}]"
        return text or "the document"

    def message(self) -> str:
        """One line: the field path, then what it must be."""
        where, value, inst = self.where, self.expected, self.instance
        if self.keyword == "type":
            kinds = [value] if isinstance(value, str) else list(value)
            return f"{where} must be {' or '.join(_NAMES[k] for k in kinds)}, not {json_type(inst)}"
        if self.keyword == "required":
            return f"{where} lacks field(s): {', '.join(k for k in value if k not in inst)}"
        if self.keyword == "enum":
            return f"{where} is {_show(inst)}; expected one of: {', '.join(_show(v) for v in value)}"
        if self.keyword == "additionalProperties":
            extra = sorted(k for k in inst if k not in self.schema.get("properties", {}))
            return f"{where} has unknown field(s): {', '.join(extra)}"
        if self.keyword == "anyOf":
            return f"{where} must be {self.schema.get('description') or 'one of the allowed forms'}"
        if self.keyword in ("minItems", "minLength") and value == 1:
            return f"{where} must not be empty"
        wording = {"pattern": "must match", "minimum": "must be at least",
                   "minItems": "must have at least this many items:", "minLength": "must be at least this long:"}
        return f"{where} {wording.get(self.keyword, self.keyword)} {value}"


def problems(instance: Any, schema: Mapping[str, Any], use_jsonschema: bool | None = None) -> list[Problem]:
    """Every problem of ``instance``, first the shallowest (then by path): the first is the one to report.

    ``use_jsonschema``: None takes jsonschema when it is importable; True and False force one.
    """
    if use_jsonschema is None:
        try:
            import jsonschema  # noqa: F401
        except ImportError:
            use_jsonschema = False
        else:
            use_jsonschema = True
    found = _jsonschema_problems(instance, schema) if use_jsonschema else list(builtin_problems(instance, schema))
    return sorted(set(found), key=_order)


def _order(problem: Problem) -> tuple[Any, ...]:
    return len(problem.path), [(0, p, "") if isinstance(p, int) else (1, 0, p) for p in problem.path], problem.keyword


def _jsonschema_problems(instance: Any, schema: Mapping[str, Any]) -> list[Problem]:
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema)
    return [Problem(tuple(e.absolute_path), str(e.validator), e.validator_value, e.instance, e.schema)
            for e in validator.iter_errors(instance)]


def json_type(value: Any) -> str:
    """The JSON Schema type name of a parsed JSON value (``integer`` before ``number``, as jsonschema)."""
    for kind in ("null", "boolean", "integer", "number", "string", "array", "object"):
        if is_type(value, kind):
            return kind
    return type(value).__name__


def is_type(value: Any, kind: str) -> bool:
    """jsonschema's draft 2020-12 type checks: a bool is no number; 1.0 is an integer."""
    if kind == "null":
        return value is None
    if kind == "boolean":
        return isinstance(value, bool)
    if kind in ("integer", "number") and isinstance(value, bool):
        return False
    if kind == "integer":
        return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if kind == "number":
        return isinstance(value, (int, float))
    kinds = {"string": str, "array": list, "object": dict}
    if kind not in kinds:
        raise ValueError(f"schema names an unknown type {kind!r}")
    return isinstance(value, kinds[kind])


def _equal(a: Any, b: Any) -> bool:
    """JSON equality as jsonschema's ``enum`` has it: true is not 1; 1.0 is 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    return bool(a == b)


def check_keywords(schema: Any) -> None:
    """Raises ValueError when a schema uses a keyword the built-in validator does not implement."""
    if isinstance(schema, dict):
        unknown = set(schema) - KEYWORDS - ANNOTATIONS
        if unknown:
            raise ValueError(f"schema keyword(s) {sorted(unknown)} are not implemented by edgekit.schema_check")
        for key in ("properties", "$defs"):
            for sub in schema.get(key, {}).values():
                check_keywords(sub)
        for sub in schema.get("anyOf", []):
            check_keywords(sub)
        for key in ("items", "additionalProperties"):
            check_keywords(schema.get(key))


def builtin_problems(instance: Any, schema: Mapping[str, Any]) -> Iterator[Problem]:
    """The built-in validator: every keyword of ``KEYWORDS`` applied as draft 2020-12 applies it."""
    check_keywords(schema)
    yield from _walk(instance, schema, schema, ())


def _resolve(root: Mapping[str, Any], ref: str) -> Mapping[str, Any]:
    if not ref.startswith("#/"):
        raise ValueError(f"only local references are implemented, not {ref!r}")
    node: Any = root
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def _walk(inst: Any, schema: Mapping[str, Any] | bool, root: Mapping[str, Any],
          path: tuple[PathPart, ...]) -> Iterator[Problem]:
    if schema is True:
        return
    if schema is False:
        yield Problem(path, "false", False, inst, {})
        return
    if "$ref" in schema:
        yield from _walk(inst, _resolve(root, schema["$ref"]), root, path)
    for keyword, value in schema.items():
        check = _CHECKS.get(keyword)
        if check is not None and not check(inst, value, schema):
            yield Problem(path, keyword, value, inst, schema)
    if "anyOf" in schema and not any(not any(_walk(inst, s, root, path)) for s in schema["anyOf"]):
        yield Problem(path, "anyOf", schema["anyOf"], inst, schema)
    if isinstance(inst, dict):
        props = schema.get("properties", {})
        for key, sub in props.items():
            if key in inst:
                yield from _walk(inst[key], sub, root, (*path, key))
        extra_schema = schema.get("additionalProperties", True)
        extra = [k for k in inst if k not in props]
        if extra_schema is False and extra:
            yield Problem(path, "additionalProperties", False, inst, schema)
        elif isinstance(extra_schema, dict):
            for key in extra:
                yield from _walk(inst[key], extra_schema, root, (*path, key))
    if isinstance(inst, list) and "items" in schema:
        for i, item in enumerate(inst):
            yield from _walk(item, schema["items"], root, (*path, i))


_CHECKS: dict[str, Any] = {
    "type": lambda v, kinds, _: any(is_type(v, k) for k in ([kinds] if isinstance(kinds, str) else kinds)),
    "enum": lambda v, options, _: any(_equal(v, o) for o in options),
    "required": lambda v, keys, _: not isinstance(v, dict) or all(k in v for k in keys),
    "pattern": lambda v, pat, _: not isinstance(v, str) or re.search(pat, v) is not None,
    "minimum": lambda v, low, _: not is_type(v, "number") or v >= low,
    "minItems": lambda v, n, _: not isinstance(v, list) or len(v) >= n,
    "minLength": lambda v, n, _: not isinstance(v, str) or len(v) >= n,
}


def _show(value: Any) -> str:
    return json.dumps(value)[:80] if not isinstance(value, str) else repr(value[:80])
