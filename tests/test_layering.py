"""The layers of edgekit, read from the source with ``ast``: no import runs upward, no import loops.

Every ``import`` counts, also those inside functions (a lazy import is still a dependency);
only ``if TYPE_CHECKING:`` imports are left out. docs/ARCHITECTURE.md explains the layers.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "edgekit"

# Higher imports lower (or the same layer); a module takes the layer of its longest listed prefix.
LAYERS: dict[str, int] = {
    "edgekit": 10, "edgekit.__main__": 10, "edgekit.config": 10,
    "edgekit.cli": 10,  # the package: one module per command (or small family), _common shared
    "edgekit.extras": 10, "edgekit.messages": 10,  # the CLI's extras check and message wording
    "edgekit.matrix": 9,  # release builds over many compiles (local pool or Ray), above one compile
    "edgekit.api": 8,
    "edgekit.auto": 7, "edgekit.bench": 7, "edgekit.describe": 7,
    "edgekit.compiler": 6, "edgekit.compiler.bf16": 6, "edgekit.compiler.payoff": 6,
    # int8 robustness (issue 15): checked quantization, recipe search, the optional NNCF quantizer
    "edgekit.compiler.qguard": 6, "edgekit.compiler.recipes": 6, "edgekit.compiler.nncf_quant": 6,
    "edgekit.compiler.calibcache": 6, "edgekit.compiler.subgraphs": 6,
    # models from the wild (issue 14): input probes, integer-input meaning, backend-error guard,
    # pre-quantized graphs, constant control flow, all compile-time
    "edgekit.compiler.probes": 6, "edgekit.compiler.meaning": 6, "edgekit.compiler.guard": 6,
    "edgekit.compiler.forward": 6,
    "edgekit.compiler.prequant": 6, "edgekit.compiler.controlflow": 6,
    "edgekit.targets": 5,
    # parity tools that run models or write reports
    "edgekit.parity.against": 5, "edgekit.parity.layers": 5, "edgekit.parity.writer": 5,
    "edgekit.parity.html": 5, "edgekit.parity.junit": 5, "edgekit.parity.summary_md": 5,
    "edgekit.parity.noise": 5, "edgekit.parity.ov_layers": 5,
    "edgekit.runtimes": 4,
    # the parity verdict (rules, metrics, compare, golden samples): a runtime re-checks itself with it
    "edgekit.parity": 3,
    "edgekit.parity.kinds": 3,  # output kinds and per-kind statistics (pure numpy), used by the rules
    "edgekit.backends": 4,  # the run half; the build halves:
    "edgekit.backends.onnxruntime.target": 5, "edgekit.backends.openvino.target": 5,
    "edgekit.backends.tensorrt.target": 5,
    "edgekit.data": 2, "edgekit.models": 2, "edgekit.models.hf": 2, "edgekit.archive": 2, "edgekit.signing": 2,
    "edgekit.snapshot": 2,  # load()'s verified private copy: reads the bundle, checks its signature
    "edgekit.bundle": 1, "edgekit.dedupe": 1, "edgekit.slim": 1,
    "edgekit.errors": 0, "edgekit.deps": 0, "edgekit.signature": 0, "edgekit.hostinfo": 0,
    "edgekit.cache": 0, "edgekit.user_code": 0, "edgekit.onnxio": 0, "edgekit.timing": 0,
    "edgekit.layout": 0, "edgekit.precision": 0, "edgekit.registry": 0, "edgekit.native": 0,
    "edgekit.peakmem": 0, "edgekit.onnxtypes": 0,
    "edgekit.manifest": 0, "edgekit.schema_check": 0,  # the typed manifest and its JSON Schema check
    "edgekit.safeio": 0, "edgekit.locks": 0, "edgekit.replace": 0,  # untrusted reads, flocks, atomic swap
    "edgekit.progress": 0, "edgekit.textable": 0,  # progress as logging records; tables as data (CLI draws both)
}


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _layer(module: str) -> int:
    parts = module.split(".")
    for end in range(len(parts), 0, -1):
        prefix = ".".join(parts[:end])
        if prefix in LAYERS:
            return LAYERS[prefix]
    raise AssertionError(f"{module} has no layer: add it to LAYERS (and to docs/ARCHITECTURE.md)")


def _type_checking_lines(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for inner in node.body:
                lines.update(range(inner.lineno, (inner.end_lineno or inner.lineno) + 1))
    return lines


def _imports(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The edgekit modules that ``module`` imports (``from pkg import mod`` names ``pkg.mod``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _type_checking_lines(tree)
    targets: set[str] = set()
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skip:
            continue
        if isinstance(node, ast.Import):
            targets.update(a.name for a in node.names if a.name in modules)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            subs = {f"{node.module}.{a.name}" for a in node.names} & set(modules)
            if subs:
                targets.update(subs)
            elif node.module in modules:
                targets.add(node.module)
    targets.discard(module)
    return targets


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {m: _imports(m, p, modules) for m, p in modules.items()}


def test_every_module_has_a_layer() -> None:
    for module in _modules():
        _layer(module)


def test_no_import_runs_upward() -> None:
    upward = [f"{m} (layer {_layer(m)}) imports {t} (layer {_layer(t)})"
              for m, targets in _graph().items() for t in sorted(targets) if _layer(t) > _layer(m)]
    assert not upward, "\n".join(upward)


def test_no_import_loops() -> None:
    graph = _graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    loops: list[str] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                loops.append(" -> ".join([*path[path.index(nxt):], nxt]))
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not loops, "\n".join(loops)


def test_the_checker_sees_an_upward_import(tmp_path: Path) -> None:
    """The checker itself: a lazy import inside a function is found; TYPE_CHECKING ones are not."""
    source = tmp_path / "m.py"
    source.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from edgekit import api\n"
                      "def f():\n    from edgekit.compiler import pipeline\n", encoding="utf-8")
    modules = {"edgekit.api": source, "edgekit.compiler.pipeline": source, "edgekit.bundle": source}
    assert _imports("edgekit.bundle", source, modules) == {"edgekit.compiler.pipeline"}
