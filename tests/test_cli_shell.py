"""The CLI shell: help, version, exit codes, one-line errors."""

from conftest import assert_one_line_error, run_gptkit

from gptkit import __version__


def test_help_lists_every_group():
    proc = run_gptkit("--help")
    assert proc.returncode == 0
    for group in ("data", "tokenizer", "verify"):
        assert group in proc.stdout


def test_version():
    proc = run_gptkit("--version")
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"gptkit {__version__}"


def test_group_without_subcommand_shows_help():
    proc = run_gptkit("data")
    assert proc.returncode == 0
    assert "Usage: gptkit data" in proc.stdout


def test_unknown_command_is_one_line_usage_error():
    assert_one_line_error(run_gptkit("bogus"), "No such command 'bogus'")


def test_unknown_option_is_one_line_usage_error():
    assert_one_line_error(run_gptkit("verify", "--bogus", "x"), "--bogus")


def test_missing_input_names_the_path(tmp_path):
    assert_one_line_error(run_gptkit("verify", str(tmp_path / "nope")), "nope", "manifest.json")
