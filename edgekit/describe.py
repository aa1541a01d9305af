"""Human-readable description of a bundle, with the build host beside this one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgekit.bundle import Bundle
from edgekit.hostinfo import fingerprint
from edgekit.layout import Layout
from edgekit.textable import Table


def bundle_size(path: Path) -> int:
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


def load_choice(bundle: Bundle) -> str:
    """Which target ``edgekit.load`` would take here with none asked for, and why."""
    from edgekit.runtimes import runtime_class
    from edgekit.runtimes.choice import order_targets

    order, why = order_targets(bundle.manifest, list(bundle.target_names))
    skipped = []
    for name in order:
        reason = runtime_class(name).probe()
        if reason is None:
            return f"{name}: {why}" + (f"; skipped {'; '.join(skipped)}" if skipped else "")
        skipped.append(f"{name}: {reason}")
    return "none of its targets can run here (" + "; ".join(skipped) + ")"


def describe(bundle: Bundle) -> str:
    """``edgekit inspect``'s text: key lines, and tables aligned without cutting a cell."""
    return "\n".join(part if isinstance(part, str) else part.plain() for part in describe_parts(bundle))


def describe_parts(bundle: Bundle) -> list[str | Table]:
    """The description as lines and tables, so that a terminal can draw the tables."""
    m = bundle.manifest
    files = m["files"]
    parts: list[str | Table] = [
        f"bundle     {bundle.path}", f"edgekit    {m['edgekit_version']} (schema {m['schema_version']})",
        f"source     {m.get('source', {}).get('description', '?')}"
        f" via {m.get('source', {}).get('exporter') or 'the ONNX file as given'}",
        f"precision  {m['precision']}", "inputs"]
    parts += [f"  {s}" for s in bundle.inputs]
    parts.append("outputs")
    parts += [f"  {s}" for s in bundle.outputs]
    parts += ["targets", *_targets(m)]
    parts.append(f"loads      {load_choice(bundle)}")
    total = sum(f["size"] for f in files.values())
    parts.append(f"size       {total / 1e6:.2f} MB in {len(files)} files")
    signed = (bundle.path / Layout.SIGNATURE).is_file()
    parts.append(f"signed     {'yes (Ed25519; verify with --verify-key)' if signed else 'no'}")
    from edgekit.slim import dropped_files

    slim = dropped_files(bundle.path, m)
    if slim:
        parts.append(f"slim       left out by pack --slim: {', '.join(sorted(slim))}")
    parity = m.get("parity") or {}
    verdict = {True: "PASSED", False: "FAILED", None: "unknown"}[parity.get("passed")]
    parts.append(f"parity     {verdict}")
    for name, entry in (parity.get("targets") or {}).items():
        parts.append(f"  {name}: {entry.get('summary')}")
    parts += ["host", *_hosts(m.get("build_host") or {}, fingerprint())]
    return parts


def _targets(m: dict[str, Any]) -> list[str | Table]:
    files, rows, engines = m["files"], [], []
    for t in m["targets"]:
        size = sum(files[p]["size"] for p in t["files"].values() if p in files)
        rows.append((t["name"], t["backend"], t.get("backend_version") or "", f"{size / 1e6:.2f}",
                     t.get("build_seconds", "?")))
        key = t.get("engine_key")
        if isinstance(key, dict):  # nvidia-gpu: what the engine is tied to, and the sizes it takes
            engines.append(f"  {t['name']}: engine for {key.get('gpu')} (compute {key.get('compute_capability')}), "
                           f"TensorRT {key.get('tensorrt')}; rebuilt from model.onnx on any other GPU or version")
            for name, prof in (t.get("profiles") or {}).items():
                dims = [str(a) if a == b else f"{a}..{b}" for a, b in zip(prof.get("min", []), prof.get("max", []))]
                engines.append(f"    profile {name}: [{', '.join(dims)}], tuned for {prof.get('opt')}")
    return [Table.of(("target", "backend", "version", "MB", "build s"), rows, right=(3, 4), indent=2), *engines]


def _hosts(built: dict[str, Any], here: dict[str, Any]) -> list[str | Table]:
    """The build host beside this one: facts, differing library versions, then ISA features."""
    rows = [(key, built.get(key, "?"), here.get(key)) for key in ("cpu", "machine", "cores", "os", "python")]
    libs_b, libs_h = built.get("libraries", {}), here["libraries"]
    rows += [(lib, libs_b.get(lib, "-"), libs_h.get(lib, "-")) for lib in sorted(set(libs_b) | set(libs_h))
             if libs_b.get(lib) != libs_h.get(lib)]
    lines: list[str | Table] = [Table.of(("", "built on", "this host"), rows, indent=2)]
    isa_b, isa_h = set(built.get("isa", [])), set(here["isa"])
    lines.append(f"  {'isa':<8} {' '.join(sorted(isa_b))}")
    if isa_b != isa_h:
        lines.append(f"  {'':<8} this host lacks: {' '.join(sorted(isa_b - isa_h)) or '-'}; "
                     f"has in addition: {' '.join(sorted(isa_h - isa_b)) or '-'}")
    else:
        lines.append(f"  {'':<8} (same ISA features on this host)")
    return lines
