"""`--help` that teaches: compile's options in sections, choices listed, examples; bare `edgekit` is help."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from edgekit.cli import cli, main


def _help(*args: str) -> str:
    result = CliRunner().invoke(cli, [*args, "--help"], terminal_width=100)
    assert result.exit_code == 0, result.output
    return result.output


def test_compile_help_has_sections_choices_and_examples() -> None:
    text = _help("compile")
    headings = ["Model and inputs:", "Targets and precision:", "Data:", "Quantization:", "Parity rule:",
                "Output:", "Logging:", "Examples:"]
    positions = [text.index(h) for h in headings]
    assert positions == sorted(positions), positions
    assert "[cpu|intel-cpu|nvidia-gpu|auto][,…]" in text
    assert "[fp32|fp16|int8|int8-dynamic|bf16|auto]" in text
    # The examples keep their lines (click's \b), one command per line.
    assert "\n    edgekit compile model.onnx --target cpu,intel-cpu --precision int8 --calib calib.npz\n" in text


def test_every_option_has_help_text() -> None:
    from edgekit.compiler.options import COMPILE_OPTIONS, GROUPS

    for option in COMPILE_OPTIONS:
        assert option.help.strip(), option.flag
        assert option.group in GROUPS, option.flag
    bare = [(name, p.name) for name, command in cli.commands.items() for p in command.params
            if p.param_type_name == "option" and not p.help]
    assert bare == [], bare  # every option of every command says what it does


@pytest.mark.parametrize("name", ["compile", "check", "run", "inspect", "bench", "pack", "keygen", "sign",
                                  "targets", "matrix", "worker"])
def test_every_command_has_examples_and_logging_flags(name: str) -> None:
    text = _help(name)
    assert "Examples:" in text and f"edgekit {name}" in text.split("Examples:")[1]
    for flag in ("-v, --verbose", "-q, --quiet", "--log-file FILE", "--debug"):
        assert flag in text, (name, flag)


def test_group_help_keeps_whole_summaries_and_bare_edgekit_exits_0(capsys) -> None:
    text = CliRunner().invoke(cli, ["--help"], terminal_width=200).output
    assert "…" not in text and "..." not in text.split("Commands:")[1]
    assert "Join (or start) a Ray cluster, advertising one resource per target this host can build." in text
    bare = CliRunner().invoke(cli, [])
    assert bare.exit_code == 0 and "Commands:" in bare.output
    assert main([]) == 0
    assert "Commands:" in capsys.readouterr().out


def test_python_m_edgekit_cli_still_runs() -> None:
    """``edgekit.cli`` became a package: ``python -m edgekit.cli`` (as scripts call it) keeps working."""
    import subprocess
    import sys

    for module in ("edgekit", "edgekit.cli"):
        proc = subprocess.run([sys.executable, "-m", module, "--version"], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0 and proc.stdout.startswith("edgekit "), (module, proc.stderr[-500:])
