"""Progress through `logging`: the API prints nothing, the CLI draws progress on stderr.

The models are built here with onnx.helper (a small attention block of MatMuls, the kind
int8-dynamic is for), so each compile takes seconds. CLI cases run in-process through
click's runner, which keeps stdout and stderr apart.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from edgekit.cli import cli

ELAPSED = re.compile(r"^\[\s*\d+\.\d+s\] ", re.M)


def _attention(path: Path, d: int = 16) -> Path:
    """x[batch, seq, d] → q·kᵀ softmax · v → linear + residual: MatMuls with constant and non-constant B."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weights = [numpy_helper.from_array((rng.standard_normal((d, d)) * 0.2).astype(np.float32), f"w{i}")
               for i in range(4)]
    nodes = [helper.make_node("MatMul", ["x", "w0"], ["q"]), helper.make_node("MatMul", ["x", "w1"], ["k"]),
             helper.make_node("MatMul", ["x", "w2"], ["v"]),
             helper.make_node("Transpose", ["k"], ["kt"], perm=[0, 2, 1]),
             helper.make_node("MatMul", ["q", "kt"], ["s"]), helper.make_node("Softmax", ["s"], ["p"], axis=-1),
             helper.make_node("MatMul", ["p", "v"], ["a"]), helper.make_node("MatMul", ["a", "w3"], ["o"]),
             helper.make_node("Add", ["o", "x"], ["y"])]
    graph = helper.make_graph(nodes, "attention", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                                 ["batch", "seq", d])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", "seq", d])],
                              weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="module")
def attention(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _attention(tmp_path_factory.mktemp("attention") / "attention.onnx")


def _invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_api_logs_through_logging_and_prints_nothing(attention, tmp_path, capfd, caplog) -> None:
    """Nothing on stdout or stderr; INFO records with stages; a ``log=`` callback still gets the lines."""
    import edgekit

    caplog.set_level(logging.INFO, logger="edgekit")
    lines: list[str] = []
    art = edgekit.compile(str(attention), out=tmp_path / "a.edgekit", log=lines.append)
    assert art.passed
    out, err = capfd.readouterr()
    assert out == "" and err == ""
    own = [r for r in caplog.records if r.name.startswith("edgekit")]
    stages = {getattr(r, "stage", None) for r in own}
    assert {"load", "simplify", "build"} <= stages, stages
    assert any("parity PASSED" in r.getMessage() for r in own)
    assert [r.getMessage() for r in own if r.name == "edgekit.progress"] == lines
    handlers = logging.getLogger("edgekit").handlers
    assert all(isinstance(h, logging.NullHandler) for h in handlers)  # the library installs no output


def test_json_stdout_parses_progress_on_stderr_verbose_and_log_file(attention, tmp_path, monkeypatch) -> None:
    """--json with a user metric that prints: stdout stays one JSON document; progress and the print
    go to stderr (-v) and to the log file, with timestamps and third-party records."""
    (tmp_path / "noisy_metric.py").write_text(
        "def score(reference, artifact, labels):\n"
        "    print('a third-party print on stdout')\n"
        "    return {'agreement': 1.0, 'passed': True}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    log_file = tmp_path / "compile.log"
    result = _invoke("compile", str(attention), "--precision", "int8-dynamic", "--metric", "noisy_metric:score",
                     "--out", str(tmp_path / "c.edgekit"), "--json", "-v", "--log-file", str(log_file))
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)  # the print did not land here
    assert document["passed"]
    assert ELAPSED.search(result.stderr) and "quantizing to int8-dynamic" in result.stderr
    assert "compile " in result.stderr and "CompileOptions(" in result.stderr  # a DEBUG record (-v)
    assert "onnxruntime.quantization" in result.stderr  # a third-party record, shown with -v
    text = log_file.read_text()
    assert re.search(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO +edgekit\.progress: quantizing", text, re.M)
    assert re.search(r"^\d{4}-\d\d-\d\d [\d:,]+ \w+ +onnxruntime\.quantization", text, re.M)
    assert "a third-party print on stdout" in text


def test_default_hides_third_party_and_quiet_hides_progress(attention, tmp_path) -> None:
    plain = _invoke("compile", str(attention), "--precision", "int8-dynamic", "--out", str(tmp_path / "d.edgekit"))
    assert plain.exit_code == 0, plain.stderr
    assert "quantizing to int8-dynamic" in plain.stderr and "onnxruntime.quantization" not in plain.stderr
    assert "CompileOptions(" not in plain.stderr
    assert "bundle:" in plain.stdout
    quiet = _invoke("compile", str(attention), "--out", str(tmp_path / "e.edgekit"), "-q", "--json")
    assert quiet.exit_code == 0, quiet.stderr
    assert json.loads(quiet.stdout)["passed"]
    assert not ELAPSED.search(quiet.stderr) and "building target" not in quiet.stderr
    assert logging.getLogger().handlers == [] or all(  # the session took its handlers away again
        type(h).__module__ != "edgekit.cli._display" for h in logging.getLogger().handlers)


def test_verbose_and_quiet_together_is_a_usage_error(tmp_path) -> None:
    from edgekit.cli import main

    assert main(["targets", "-v", "-q"]) == 2


def test_rich_display_draws_counters_and_stage_times(monkeypatch) -> None:
    """The terminal display (drawn here into a buffer): counters become bars, a stage says how long it took."""
    import io
    import sys
    import time

    from edgekit.cli._display import RichHandler

    monkeypatch.setattr(sys, "stderr", io.StringIO())
    handler = RichHandler(time.monotonic(), verbose=False)

    def record(message: str, level: int = logging.INFO, name: str = "edgekit.progress", **extra) -> logging.LogRecord:
        rec = logging.LogRecord(name, level, __file__, 0, message, (), None)
        rec.__dict__.update(extra)
        return rec

    handler.handle(record("quantizing to int8", stage="quantize"))
    for done in range(1, 5):
        handler.handle(record("calibration batches", logging.DEBUG, progress=(done, 4, "calibration batches")))
    handler.handle(record("parity samples", logging.DEBUG, progress=(8, None, "parity samples")))
    assert "parity samples" in handler.tasks and "calibration batches" not in handler.tasks  # done: removed
    handler.handle(record("noise from elsewhere", name="onnxruntime.quantization"))  # hidden without -v
    handler.handle(record("building target cpu (onnxruntime)", stage="build"))
    assert handler.tasks == {}  # a bar without a total ends at the next line
    handler.close()
    text = sys.stderr.getvalue()
    assert "quantizing to int8" in text and "quantize took" in text and "build took" in text
    assert "noise from elsewhere" not in text
