"""Comparing a loaded artifact with its original model, on new data or the golden inputs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from edgekit.data.sources import Batch, batches, open_data
from edgekit.errors import InputError
from edgekit.parity.compare import compare
from edgekit.parity.golden import GOLDEN_FILE, load_golden
from edgekit.parity.metrics import rule_for
from edgekit.parity.report import ParityReport
from edgekit.parity.user_rule import recorded_rule
from edgekit.runtimes.base import Runtime


def check_against(rt: Runtime, reference: Any, data: Any, weights: str | Path | None,
                  allow_pickle: bool = False) -> ParityReport:
    from edgekit.backends.onnxruntime.runtime import OnnxRuntime
    from edgekit.models.loader import load_source
    from edgekit.models.torchref import TorchReference

    source = load_source(reference, weights, allow_pickle)
    names = [s.name for s in rt.inputs]
    if source.is_torch:
        ref_fn = TorchReference(source.module, names, rt.output_names)
        desc = f"torch eager fp32 ({source.description})"
    else:
        onnx_ref = OnnxRuntime(source.onnx_path, optimization="none")
        if onnx_ref.output_names != rt.output_names:
            raise InputError(f"reference outputs {onnx_ref.output_names} differ from the artifact's {rt.output_names}")
        ref_fn = onnx_ref.run
        desc = f"onnxruntime fp32, no graph optimisation ({source.description})"
    if data is not None:
        src = open_data(data)
        supply: Iterator[Batch] = batches(src, rt.inputs)
        data_desc = src.description
    else:
        if rt.bundle is None:
            raise InputError("this runtime has no bundle, so no golden inputs", note="pass data")
        pairs = load_golden(rt.bundle.file(GOLDEN_FILE), names, rt.output_names)
        supply = iter([b for b, _ in pairs])
        data_desc = "the bundle's golden inputs"
    precision = rt.bundle.precision if rt.bundle is not None else "fp32"
    rule = (recorded_rule(rt.bundle.manifest) if rt.bundle is not None else None) or rule_for(precision)
    return compare(ref_fn, rt.run, supply, rt.output_names, precision, rule,
                   data_description=data_desc, reference_description=desc,
                   candidate_description=f"{rt.target} ({rt.backend}) on this host").report
