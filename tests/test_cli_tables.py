"""bench, inspect and targets print tables with headers whose cells are never cut (plain text off a TTY)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgekit.cli import cli
from edgekit.textable import Table
from tests.test_cli_logging import _attention

LONG = "an-attention-block-with-a-rather-long-bundle-name-for-tables"


@pytest.fixture(scope="module")
def long_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import edgekit

    folder = tmp_path_factory.mktemp("tables")
    return edgekit.compile(str(_attention(folder / "attention.onnx")), out=folder / f"{LONG}.edgekit").path


def _invoke(*args: str):
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    return result.stdout


def test_plain_table_aligns_without_cutting() -> None:
    text = Table.of(("name", "ms"), [("x" * 50, "1.5"), ("y", "12.25")], right=[1]).plain().splitlines()
    assert text[0].split() == ["name", "ms"] and "x" * 50 in text[1]
    assert len({len(line) for line in text}) == 1  # right-aligned last column: every line as long


def test_bench_shows_the_whole_bundle_name(long_bundle) -> None:
    out = _invoke("bench", str(long_bundle), "--time-budget", "0.3", "--iterations", "5", "--warmup", "1")
    header, row = out.splitlines()[:2]
    assert header.split()[:3] == ["bundle", "target", "precision"] and "p50 ms" in header
    assert row.startswith(f"{LONG}.edgekit ") and " cpu " in row
    end = header.index("p50 ms") + len("p50 ms")  # right-aligned: the number ends under the header
    assert row[end - 1].isdigit() and row[end] == " ", (header, row)


def test_inspect_shows_long_host_facts_whole(long_bundle, tmp_path) -> None:
    copy = Path(shutil.copytree(long_bundle, tmp_path / "copy.edgekit"))
    manifest = json.loads((copy / "manifest.json").read_text())
    cpu = "Imaginary Silicon Corporation Hyperscale Processor 9999X with 512 cores @ 3.9GHz"
    manifest["build_host"]["cpu"] = cpu
    (copy / "manifest.json").write_text(json.dumps(manifest))
    out = _invoke("inspect", str(copy))
    assert cpu in out
    assert any(line.split()[:3] == ["target", "backend", "version"] for line in out.splitlines())


def test_targets_table_has_a_header_and_whole_reasons() -> None:
    from edgekit.targets import describe_targets

    out = _invoke("targets")
    assert out.splitlines()[0].split() == ["target", "backend", "version", "state"]
    for row in describe_targets():
        assert row["name"] in out
        if not row["available"]:
            assert row["reason"] in out
