"""A kill at each step of committing a bundle leaves the old bundle or the new one (issue 12, 3 and 4).

The kill is injected at a named step (``EDGEKIT_TEST_KILL_AT``), not by a timer, in a child
process that stages and commits a real bundle exactly as ``compile`` does.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import edgekit
from edgekit.bundle import MANIFEST, commit_bundle, read_bundle, staged_bundle
from edgekit.compiler.loadback import check_loads_back
from edgekit.errors import BundleError
from edgekit.locks import hold_dir_lock
from edgekit.replace import KILL_ENV, NO_EXCHANGE_ENV, exchange
from tests.conftest import ROOT

CHILD = """
import json, shutil, sys
from pathlib import Path
from edgekit.bundle import MANIFEST, commit_bundle, staged_bundle
from edgekit.compiler.loadback import check_loads_back

src, out, name = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
manifest = json.loads((src / MANIFEST).read_text())
manifest["name"] = name
with staged_bundle(out) as staging:
    shutil.copytree(src, staging, dirs_exist_ok=True, ignore=shutil.ignore_patterns(MANIFEST))
    commit_bundle(staging, out, manifest, verify=lambda p: check_loads_back(p, ["cpu"]))
"""

STEPS = [("manifest-written", False), ("verified", False), ("before-exchange", False),
         ("after-exchange", False), ("before-exchange", True), ("between-renames", True),
         ("after-renames", True)]


def _commit(src: Path, out: Path, name: str, kill: str | None = None, no_exchange: bool = False) -> int:
    env = {k: v for k, v in os.environ.items() if k not in (KILL_ENV, NO_EXCHANGE_ENV)}
    if kill:
        env[KILL_ENV] = kill
    if no_exchange:
        env[NO_EXCHANGE_ENV] = "1"
    proc = subprocess.run([sys.executable, "-c", CHILD, str(src), str(out), name], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode in (0, 137), proc.stderr
    return proc.returncode


def _commit_here(src: Path, out: Path, name: str) -> None:
    """The next run, in this process (what CHILD does, without the kill)."""
    manifest = dict(json.loads((src / MANIFEST).read_text()), name=name)
    with staged_bundle(out) as staging:
        shutil.copytree(src, staging, dirs_exist_ok=True, ignore=shutil.ignore_patterns(MANIFEST))
        commit_bundle(staging, out, manifest, verify=lambda p: check_loads_back(p, ["cpu"]))


def _name(out: Path) -> str:
    assert edgekit.load(out).selfcheck().passed
    return json.loads((out / MANIFEST).read_text())["name"]


def _leftovers(out: Path) -> list[str]:
    return [p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.tmp-")]


@pytest.mark.parametrize("step, no_exchange", STEPS)
def test_a_kill_at_each_commit_step_keeps_old_or_new(digits_bundle, tmp_path, step, no_exchange) -> None:
    out = tmp_path / "b.edgekit"
    shutil.copytree(digits_bundle, out)
    assert _commit(digits_bundle, out, "new", kill=step, no_exchange=no_exchange) == 137
    if step == "between-renames":
        assert not out.exists()  # the old bundle waits in a locked -old- folder of a dead process
        with staged_bundle(out):  # what the next run does first: restore it
            pass
        assert _name(out) == "digits"
    else:
        assert _name(out) == ("new" if step in ("after-exchange", "after-renames") else "digits")
    _commit_here(digits_bundle, out, "newer")
    assert _name(out) == "newer"
    assert _leftovers(out) == [], "the next run cleans what the killed one left"


def test_a_live_staging_folder_is_not_removed_by_another_run(tmp_path) -> None:
    out = tmp_path / "b.edgekit"
    live = tmp_path / f".{out.name}.tmp-1-live"  # pid 1: alive everywhere, so only the lock may decide
    dead = tmp_path / f".{out.name}.tmp-999999999-dead"
    live.mkdir()
    dead.mkdir()
    with hold_dir_lock(live), staged_bundle(out):
        assert live.exists() and not dead.exists()


def test_a_bundle_that_does_not_load_back_never_replaces_a_good_one(digits_bundle, tmp_path) -> None:
    out = tmp_path / "b.edgekit"
    shutil.copytree(digits_bundle, out)
    before = (out / MANIFEST).read_bytes()
    manifest = json.loads(before)
    manifest["signature"]["inputs"] = []  # what an ONNX graph without inputs produced
    with pytest.raises(BundleError, match="does not load back"), staged_bundle(out) as staging:
        shutil.copytree(digits_bundle, staging, dirs_exist_ok=True, ignore=shutil.ignore_patterns(MANIFEST))
        commit_bundle(staging, out, manifest, verify=lambda p: check_loads_back(p, ["cpu"]))
    assert (out / MANIFEST).read_bytes() == before
    assert _leftovers(out) == []


def test_golden_mismatch_never_replaces_a_good_one(digits_bundle, tmp_path) -> None:
    out = tmp_path / "b.edgekit"
    shutil.copytree(digits_bundle, out)
    before = (out / MANIFEST).read_bytes()
    with pytest.raises(BundleError, match="golden check"), staged_bundle(out) as staging:
        shutil.copytree(digits_bundle, staging, dirs_exist_ok=True, ignore=shutil.ignore_patterns(MANIFEST))
        golden = dict(np.load(staging / "golden.npz"))
        for key in golden:
            if key.startswith("ref_") and golden[key].dtype.kind == "f":
                golden[key] = golden[key] + 100
        np.savez(staging / "golden.npz", **golden)
        commit_bundle(staging, out, json.loads(before), verify=lambda p: check_loads_back(p, ["cpu"]))
    assert (out / MANIFEST).read_bytes() == before
    assert read_bundle(out)


def test_exchange_swaps_two_folders(tmp_path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "f").write_text("a")
    (b / "f").write_text("b")
    if not exchange(a, b):
        pytest.skip("renameat2(RENAME_EXCHANGE) is not available on this file system")
    assert (a / "f").read_text() == "b" and (b / "f").read_text() == "a"
