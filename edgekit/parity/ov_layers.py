"""OpenVINO's own intermediate tensors, for ``check --layers`` on the intel-cpu target.

The compiled IR is read again, every operation's output is added as a model output (by the
ONNX tensor names OpenVINO keeps), and the model is compiled with the bundle's own config.
Exposed tensors cannot be fused away, so this is OpenVINO's arithmetic per layer rather than
its fastest plan; a difference that shows here is OpenVINO's, named by layer.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

Feed = dict[str, np.ndarray]
SKIP = frozenset({"Parameter", "Constant", "Result"})


def openvino_intermediates(xml: Path, feeds: Iterable[Feed], config: dict[str, Any]) -> dict[str, list[np.ndarray]]:
    """Every named intermediate tensor of the IR at ``xml``, per feed, keyed by tensor name."""
    import openvino as ov

    core = ov.Core()
    model = core.read_model(str(xml))
    outputs = [out for op in model.get_ordered_ops() if op.get_type_name() not in SKIP
               for out in op.outputs() if out.get_names()]
    model.add_outputs(outputs)
    config = {k: v for k, v in config.items() if k != "CACHE_DIR"}  # not worth caching a debug model
    compiled = core.compile_model(model, "CPU", config)
    request = compiled.create_infer_request()
    ports = [sorted(p.get_names()) for p in compiled.outputs]
    values: dict[str, list[np.ndarray]] = {}
    for feed in feeds:
        request.infer(feed)
        for i, names in enumerate(ports):
            data = np.array(request.get_output_tensor(i).data, copy=True)
            for name in names:
                values.setdefault(name, []).append(data)
    return values
