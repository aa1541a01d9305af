from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# Two cores: keep the backends from oversubscribing them while pytest runs.
os.environ.setdefault("OMP_NUM_THREADS", "2")
# numpy's OpenBLAS in one thread: the suite runs onnxruntime, OpenVINO and torch thread pools in one
# process, and a multi-threaded numpy matmul after them was seen to hang in OpenBLAS's exec_blas now
# and then on this 2-core machine (test arrays are small: threading buys nothing here).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


@pytest.fixture(scope="session")
def digits_data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from examples.digits.data import write

    out = tmp_path_factory.mktemp("digits")
    train, test = write(out)
    return {"train": train, "test": test}


@pytest.fixture(scope="session")
def digits_bundle(tmp_path_factory: pytest.TempPathFactory, digits_data: dict[str, Path]) -> Path:
    """The digits example compiled for cpu through the Python API, shared by read-only tests."""
    import edgekit
    from examples.digits.model import pretrained

    out = tmp_path_factory.mktemp("bundles") / "digits.edgekit"
    import torch

    edgekit.compile(pretrained(), (torch.zeros(1, 1, 8, 8),), dynamic=["image:0"],
                    eval_data=digits_data["test"], out=out)
    return out


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:  # noqa: F821
    import subprocess

    return subprocess.run([sys.executable, "-m", "edgekit", *args], capture_output=True, text=True,
                          cwd=cwd or ROOT, timeout=900)


def assert_thread_safe(rt, feeds: list[dict], threads: int = 4, calls: int = 30) -> None:
    """Many threads share one runtime; every result equals the serial one."""
    import threading

    import numpy as np

    serial = [rt.run(feed) for feed in feeds]
    errors: list[BaseException] = []

    def worker(k: int) -> None:
        try:
            for j in range(calls):
                i = (k + j) % len(feeds)
                got = rt.run(feeds[i])
                for name, want in serial[i].items():
                    np.testing.assert_array_equal(got[name], want)
        except BaseException as err:  # collected and re-raised in the main thread
            errors.append(err)

    pool = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert not errors, errors[0]


@pytest.fixture(scope="session", autouse=True)
def every_parity_report_matches_the_schema(tmp_path_factory: pytest.TempPathFactory):
    """After the suite: every parity.json any test wrote validates against the published schema."""
    yield
    import json

    import jsonschema

    from edgekit.parity.writer import SCHEMA_FILE

    schema = json.loads(SCHEMA_FILE.read_text())
    validator = jsonschema.Draft202012Validator(schema)
    checked = 0
    for path in tmp_path_factory.getbasetemp().rglob("parity.json"):
        if ".tmp-" in str(path):
            continue  # a killed compile's staging folder
        errors = sorted(validator.iter_errors(json.loads(path.read_text())), key=str)
        assert not errors, f"{path}: {errors[0].message} at {list(errors[0].absolute_path)}"
        checked += 1
    print(f"\nparity.json files validated against the schema: {checked}")


@pytest.fixture(scope="session", autouse=True)
def every_manifest_matches_the_schema(tmp_path_factory: pytest.TempPathFactory):
    """After the suite: on every manifest.json any test left (broken ones included), the built-in
    validator and jsonschema agree; every one edgekit wrote validates and round-trips byte for byte."""
    yield
    import json

    from edgekit.manifest import Manifest, schema
    from edgekit.schema_check import problems

    written = 0
    for path in tmp_path_factory.getbasetemp().rglob("manifest.json"):
        try:
            if not path.is_file() or path.stat().st_size > 10_000_000:
                continue  # a test's link, folder or FIFO named so
            text = path.read_text()
            doc = json.loads(text)
        except (OSError, ValueError, RecursionError):
            continue  # a test's deliberately unreadable manifest (bad bytes, JSON nested 100,000 deep)
        assert problems(doc, schema(), use_jsonschema=False) == problems(doc, schema(), use_jsonschema=True), path
        if ".tmp-" in str(path) or text != json.dumps(doc, indent=2, default=str) + "\n":
            continue  # a killed compile's staging folder, or a manifest a test wrote by hand
        manifest = Manifest.from_dict(doc)  # written by commit_bundle: it must validate
        assert json.dumps(manifest.to_dict(), indent=2, default=str) + "\n" == text, path
        written += 1
    print(f"\nmanifest.json files validated and round-tripped: {written}")
