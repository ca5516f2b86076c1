"""Every command's --help as Typer renders it: no Python types, nothing eaten by rich markup,
every ``--set`` example a key that exists, and one meaning per option name and letter."""

from __future__ import annotations

import inspect
import re
import shlex
from pathlib import Path

import pytest
import typer
from conftest import assert_one_line_error, cli_commands, run_gptkit
from rich.errors import StyleSyntaxError
from rich.style import Style
from typer.testing import CliRunner

from gptkit.cli.app import LazyGroup
from gptkit.cli.main import app
from gptkit.config import build, load_recipe, resolve
from gptkit.data.clean.overlap import OverlapConfig
from gptkit.errors import ConfigError
from gptkit.model.convert import ExportConfig, ImportConfig
from gptkit.pack.inspect import InspectConfig
from gptkit.pipeline.run import CONFIG_CLASSES, RunSection, stage_config

REPO = Path(__file__).resolve().parents[1]
#: The recipe tables of the commands that are not pipeline stages.
COMMAND_CONFIGS = {"export": ExportConfig, "import": ImportConfig, "overlap": OverlapConfig, "inspect": InspectConfig}
CLI_DOC = REPO / "docs" / "cli.md"


@pytest.fixture(scope="module")
def helps() -> dict[str, str]:
    """``gptkit … --help`` of every command, rendered by Typer and rich, box drawing removed."""
    runner = CliRunner()
    rendered = {}
    for path, _ in cli_commands():
        result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "250"}, prog_name="gptkit")
        assert result.exit_code == 0, (path, result.output)
        rendered[" ".join(path)] = " ".join(re.sub(r"[│╭╮╰╯─]", " ", result.output).split())
    return rendered


def test_groups_list_each_command_by_its_own_help():
    """A group lists a subcommand it has not imported by :class:`Sub`'s copy of the command's short help."""
    groups = [(path, cmd) for path, cmd in cli_commands() if isinstance(cmd, LazyGroup)]
    assert [path for path, _ in groups] == [[], ["data"]]
    for _, group in groups:
        for name, sub in group.subcommands.items():
            command = group.get_command(typer.Context(group), name)
            first_paragraph = inspect.cleandoc(command.short_help or command.help).split("\n\n")[0].strip()
            assert (sub.help, sub.hidden) == (first_paragraph, command.hidden), name


def test_help_shows_no_python_types(helps):
    for name, text in helps.items():
        for python_type in ("<bool>", "list[", "<str>", "<Path>"):
            assert python_type not in text, f"'gptkit {name} --help' shows {python_type}"
    assert "--out -o <path> Output directory" in helps["eval"]
    assert "DIRECTORIES <path>... Stage output directories" in " ".join(helps["verify"].split())


def _written_brackets(text: str) -> list[str]:
    """The ``[…]`` spans of a help source that are meant as text, not as rich styles like ``[bold]``."""
    spans = []
    for match in re.finditer(r"(?<!\\)\[([^\[\]]*)\]", text):
        content = match.group(1)
        try:
            is_style = content.startswith("/") or bool(Style.parse(content))
        except StyleSyntaxError:
            is_style = False
        if not is_style:
            spans.append(match.group(0))
    return spans


def test_no_bracketed_text_is_lost(helps):
    for path, cmd in cli_commands():
        rendered = helps[" ".join(path)]
        sources = [cmd.help or "", *[p.help or "" for p in cmd.params]]
        for source in sources:
            for span in _written_brackets(source):
                assert " ".join(span.split()) in rendered, f"'gptkit {' '.join(path)} --help' lost {span}"
    assert "[default: 16]" in helps["eval"]
    assert "[run]" in helps["run"]


def _set_examples(text: str) -> list[str]:
    items = []
    for match in re.finditer(r"--set[ =]((?:[^\s'\"`]+|'[^']*'|\"[^\"]*\")+)", text):
        item = shlex.split(match.group(1))[0]  # as the shell passes it
        if "=" in item and not re.search(r"KEY|VALUE", item):  # SECTION.KEY=VALUE is the syntax, not an example
            items.append(item)
    return items


def test_every_set_example_resolves(helps):
    """Each ``--set k=v`` in a --help or docs/cli.md names a key the config resolver accepts."""
    recipe = load_recipe(REPO / "recipes" / "quickstart.toml")
    examples = {item for text in helps.values() for item in _set_examples(text)}
    doc = CLI_DOC.read_text(encoding="utf-8")
    examples |= set(_set_examples(doc))
    assert len(examples) >= 10
    for item in sorted(examples):
        if f"error: unknown config key '{item.partition('=')[0]}'" in doc:  # the docs' example of a typo
            with pytest.raises(ConfigError, match="unknown config key"):
                stage_config(item.split(".", 1)[0], recipe, [item])
            continue
        section = item.split(".", 1)[0]
        if section == "run":
            key, _, value = item.partition("=")
            build(RunSection, {key.split(".", 1)[1]: value}, "run")
        elif section in COMMAND_CONFIGS:
            resolve(COMMAND_CONFIGS[section], section, overrides=[item])
        else:
            assert section in CONFIG_CLASSES, f"--set {item}: no config section {section!r}"
            stage_config(section, recipe, [item])


def _option_table() -> dict[str, tuple[str, set[str]]]:
    """docs/cli.md's table: option -> (short letter or '', the commands that have it)."""
    text = CLI_DOC.read_text(encoding="utf-8").split("## Every option, one meaning", 1)[1]
    table = {}
    for line in text.split("\n## ", 1)[0].splitlines():
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        if len(cells) == 4 and cells[0].startswith("`--"):
            option, short, commands = cells[0].strip("`"), cells[1].strip("`–"), cells[3]
            assert option not in table, f"{option} has two rows in docs/cli.md"
            table[option] = (short, set() if commands == "(all)" else set(commands.split(", ")))
    return table


def test_one_meaning_per_option_name_and_letter():
    """Every option of every command is in docs/cli.md's table, with the letter the table gives
    it; a letter names one option, so no letter or name has two meanings."""
    table = _option_table()
    seen: dict[str, set[str]] = {}
    for path, cmd in cli_commands():
        for param in cmd.params:
            if param.param_type_name == "argument":
                continue
            option = "/".join([o for o in param.opts if o.startswith("--")] + param.secondary_opts)
            shorts = [o for o in param.opts if not o.startswith("--")]
            assert option in table, f"gptkit {' '.join(path)} {option}: not in docs/cli.md's option table"
            assert "".join(shorts) == table[option][0], f"gptkit {' '.join(path)} {option}: short {shorts}"
            seen.setdefault(option, set()).add(" ".join(path) or "(root)")
    for option, (_, commands) in table.items():
        if commands:
            assert seen.get(option) == commands, f"{option}: docs/cli.md says {commands}, the app has {seen.get(option)}"
    letters = [short for short, _ in table.values() if short]
    assert len(letters) == len(set(letters)), f"a letter with two options: {sorted(letters)}"


def test_renamed_options_are_gone():
    """Clean's shard count is --num-tasks (--tasks is eval's task names); -t is only --tasks."""
    runner = CliRunner()
    result = runner.invoke(app, ["data", "clean", "x", "--out", "y", "--tasks", "3"])
    assert result.exit_code == 2 and "--tasks" in result.output
    assert _option_table()["--tasks"] == ("-t", {"eval"})


def test_new_recipe_options_reach_the_config(tmp_path):
    """--which on eval and --set on export are read through the config resolver (bad values name the key)."""
    assert_one_line_error(run_gptkit("eval", tmp_path, "--which", "newest", "--tasks", "lambada"), "eval.checkpoint")
    assert_one_line_error(run_gptkit("export", tmp_path, "--set", "export.which=newest", "--out", tmp_path / "o"),
                          "export.which")  # fmt: skip
    assert_one_line_error(run_gptkit("export", tmp_path), "no output directory")
