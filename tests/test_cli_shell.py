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


def test_progress_counts_read_in_their_unit():
    from io import StringIO

    from rich.console import Console

    from gptkit.cli.ui import RichReporter

    sink = StringIO()
    reporter = RichReporter(Console(file=sink, width=160, force_terminal=False))
    with reporter.task("reading", total=2_400_000, unit="B") as task:
        task.advance(1_200_000)
    with reporter.task("hashing", total=12_000, unit="files") as task:
        task.advance(12_000)
    shown = sink.getvalue()
    assert "1.2 MB/2.4 MB" in shown and "12,000/12,000 files" in shown
