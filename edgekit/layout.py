"""The bundle's file layout: every file name a bundle holds, in one place.

A bundle ``NAME.edgekit/`` holds the manifest (every file's sha256), the portable ONNX,
golden samples, parity reports, an optional fp32 reference graph and signature, and one
folder per target (its names come from the target, e.g. ``targets/cpu/model.onnx``).
"""

from __future__ import annotations


class Layout:
    """File names inside a bundle (posix, relative to its root)."""

    SUFFIX = ".edgekit"
    MANIFEST = "manifest.json"
    PORTABLE_MODEL = "model.onnx"
    REFERENCE_MODEL = "reference/model.onnx"  # the fp32 graph, kept by --keep-fp32
    GOLDEN = "golden.npz"
    PARITY_JSON = "parity.json"
    PARITY_MD = "parity.md"
    PARITY_HTML = "parity.html"
    SIGNATURE = "signature.json"
    SLIM = "slim.json"  # written by `pack --slim`: the files it left out
