"""Human-readable description of a bundle, with the build host beside this one."""

from __future__ import annotations

from pathlib import Path

from edgekit.bundle import Bundle
from edgekit.hostinfo import fingerprint
from edgekit.layout import Layout


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
    m = bundle.manifest
    files = m["files"]
    lines = [f"bundle     {bundle.path}", f"edgekit    {m['edgekit_version']} (schema {m['schema_version']})",
             f"source     {m.get('source', {}).get('description', '?')}"
             f" via {m.get('source', {}).get('exporter') or 'the ONNX file as given'}",
             f"precision  {m['precision']}", "inputs"]
    lines += [f"  {s}" for s in bundle.inputs]
    lines.append("outputs")
    lines += [f"  {s}" for s in bundle.outputs]
    lines.append("targets")
    for t in m["targets"]:
        size = sum(files[p]["size"] for p in t["files"].values() if p in files)
        lines.append(f"  {t['name']:<11} {t['backend']} {t.get('backend_version') or ''}  "
                     f"{size / 1e6:.2f} MB  built in {t.get('build_seconds', '?')} s")
        key = t.get("engine_key")
        if isinstance(key, dict):  # nvidia-gpu: what the engine is tied to, and the sizes it takes
            lines.append(f"    engine for {key.get('gpu')} (compute {key.get('compute_capability')}), TensorRT "
                         f"{key.get('tensorrt')}; rebuilt from model.onnx on any other GPU or version")
            for name, prof in (t.get("profiles") or {}).items():
                dims = [str(a) if a == b else f"{a}..{b}" for a, b in zip(prof.get("min", []), prof.get("max", []))]
                lines.append(f"    profile {name}: [{', '.join(dims)}], tuned for {prof.get('opt')}")
    lines.append(f"loads      {load_choice(bundle)}")
    total = sum(f["size"] for f in files.values())
    lines.append(f"size       {total / 1e6:.2f} MB in {len(files)} files")
    signed = (bundle.path / Layout.SIGNATURE).is_file()
    lines.append(f"signed     {'yes (Ed25519; verify with --verify-key)' if signed else 'no'}")
    from edgekit.slim import dropped_files

    slim = dropped_files(bundle.path, m)
    if slim:
        lines.append(f"slim       left out by pack --slim: {', '.join(sorted(slim))}")
    parity = m.get("parity") or {}
    verdict = {True: "PASSED", False: "FAILED", None: "unknown"}[parity.get("passed")]
    lines.append(f"parity     {verdict}")
    for name, entry in (parity.get("targets") or {}).items():
        lines.append(f"  {name}: {entry.get('summary')}")
    here = fingerprint()
    built = m.get("build_host") or {}
    lines.append("host       built on                              | this host")
    for key in ("cpu", "machine", "cores", "os", "python"):
        lines.append(f"  {key:<8} {str(built.get(key, '?'))[:36]:<37} | {here.get(key)}")
    isa_b, isa_h = set(built.get("isa", [])), set(here["isa"])
    lines.append(f"  {'isa':<8} {' '.join(sorted(isa_b))}")
    if isa_b != isa_h:
        missing = sorted(isa_b - isa_h)
        extra = sorted(isa_h - isa_b)
        lines.append(f"  {'':<8} this host lacks: {' '.join(missing) or '-'}; "
                     f"has in addition: {' '.join(extra) or '-'}")
    else:
        lines.append(f"  {'':<8} (same ISA features on this host)")
    libs_b, libs_h = built.get("libraries", {}), here["libraries"]
    for lib in sorted(set(libs_b) | set(libs_h)):
        if libs_b.get(lib) != libs_h.get(lib):
            lines.append(f"  {lib:<12} {libs_b.get(lib, '-'):<33} | {libs_h.get(lib, '-')}")
    return "\n".join(lines)
