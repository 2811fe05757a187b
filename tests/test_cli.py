"""The command line: every level has useful help; bad input is one clear line, exit code 2."""
import argparse
import subprocess
import sys

import pytest

from edgegeo.cli import build_parser, main


def _all_command_paths(parser, prefix=()):
    """Every sub-command path of the parser tree, e.g. ('data', 'render')."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield prefix + (name,)
                yield from _all_command_paths(sub, prefix + (name,))


PATHS = [()] + sorted(_all_command_paths(build_parser()))


def test_expected_commands_exist():
    top = {p[0] for p in PATHS if p}
    assert {"demo", "data", "eval", "fuse"} <= top


@pytest.mark.parametrize("path", PATHS, ids=lambda p: " ".join(p) or "edgegeo")
def test_help_on_every_level(path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([*path, "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith("usage: edgegeo")
    # A description or option help, not just a usage line.
    assert len(text.splitlines()) >= 4


def test_python_dash_m_and_version():
    out = subprocess.run([sys.executable, "-m", "edgegeo", "--version"], capture_output=True,
                         text=True, check=True).stdout
    assert out.startswith("edgegeo ")


def test_bad_input_is_a_one_line_error(tmp_path, capsys):
    code = main(["fuse", "--source", str(tmp_path / "missing"), "--out", str(tmp_path / "m.ply")])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("edgegeo fuse: error:") and "missing" in err and "\n" not in err
    assert main(["demo", "--size", "big"]) == 2
    assert "256x192" in capsys.readouterr().err
