"""The docs cover every CLI command, and every command's --help has examples."""

from pathlib import Path

from conftest import cli_commands

DOCS = Path(__file__).resolve().parents[1] / "docs"


def all_commands() -> list[tuple[str, object]]:
    """(\"gptkit data clean\", click command) for every leaf command of the app."""
    leaves = [(path, cmd) for path, cmd in cli_commands() if not hasattr(cmd, "list_commands")]
    return [(" ".join(["gptkit", *path]), cmd) for path, cmd in leaves]


def test_every_command_is_documented():
    text = "\n".join(p.read_text(encoding="utf-8") for p in DOCS.rglob("*.md"))
    missing = [name for name, _ in all_commands() if name not in text]
    assert not missing, f"commands not mentioned in docs/: {missing}"


def test_every_command_help_has_examples():
    missing = [name for name, cmd in all_commands() if "Example" not in (cmd.help or "")]
    assert not missing, f"commands whose --help has no examples: {missing}"
