"""``App``: typer.Typer whose help names values the way people write them.

Typer (0.29) labels every value with its Python type: ``<bool>`` after each flag,
``<list[Path]>`` for repeatable paths, ``<str>``. Commands and groups made by :class:`App` show
nothing after a flag, an option's own ``metavar`` (``KEY=VALUE``) where it has one, ``<path>``
for a repeatable path option and ``<path>...`` for an argument taking several.

They also start fast (``--help`` and usage errors): a :class:`LazyGroup` imports a subcommand's
module only when that subcommand runs, option values are coerced only when given, and help is
rendered without the rich modules Typer imports for features gptkit does not use.
"""

from __future__ import annotations

import importlib
import re
import sys
import types
from typing import Any, ClassVar, NamedTuple

import typer
from typer._coercion import build_runtime_param
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

_TYPE_WORDS = {"<Path>": "<path>", "<str>": "<text>"}


def value_label(param: Any, ctx: Any) -> str | None:
    """What the help shows after an option or argument: its value's kind, no Python types."""
    if getattr(param, "is_flag", False):
        return None
    if isinstance(param, TyperOption) and param.metavar is not None:
        return param.metavar
    label = type(param).display_type_rich(param, ctx)
    if label is None:
        return None
    several = label.startswith("<list[")
    label = re.sub(r"^<list\[(.*)\]>$", r"<\1>", label)
    label = _TYPE_WORDS.get(label, label)
    return f"{label}..." if several and not isinstance(param, TyperOption) else label


class _CoercedWhenGiven:
    """Typer's coercion of one parameter's value, whose pydantic ``TypeAdapter`` is built only for a
    value that was given: --help and usage errors, where every value is still None, then never import
    pydantic (a third of their start-up)."""

    def __init__(self) -> None:
        self.coercion: Any = None

    def coerce(self, value: Any, param: Any, ctx: Any) -> Any:
        if value is None:
            return () if param.multiple or param.nargs == -1 else None
        if self.coercion is None:
            self.coercion = build_runtime_param(param.type_descriptor)
        return self.coercion.coerce(value, param=param, ctx=ctx)


class _Relabelled:
    """Mixin: every parameter (the help option too) gets :func:`value_label` for its help and
    :class:`_CoercedWhenGiven`, and arguments are named in capitals (``MODEL``, ``INPUTS``) as the
    docstrings refer to them."""

    def get_params(self, ctx: Any) -> list[Any]:
        params = super().get_params(ctx)  # type: ignore[misc]
        for param in params:
            param.display_type_rich = lambda ctx, param=param: value_label(param, ctx)
            if getattr(param, "_runtime_param", False) is None:  # not coerced yet
                param._runtime_param = _CoercedWhenGiven()
            if isinstance(param, TyperArgument) and param.metavar is None:
                param.metavar = param.name.upper()
        return params


class _LoadedOnUse:
    """Stands in for a class of a module not imported yet; the first instance imports the module."""

    module = ""

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        return getattr(importlib.import_module(cls.module), cls.__name__)(*args, **kwargs)


def import_help_renderer() -> None:
    """Import ``typer.rich_utils``, which renders help, without rich.markdown and rich.traceback:
    they serve markup mode "markdown" and pretty tracebacks, which gptkit does not use, and are
    half of its import time. Both are real modules again for anything that imports them later."""
    if "typer.rich_utils" in sys.modules:
        return
    placeholders = {"rich.markdown": "Markdown", "rich.traceback": "Traceback"}
    absent = [name for name in placeholders if name not in sys.modules]
    for name in absent:
        module = sys.modules[name] = types.ModuleType(name)
        setattr(module, placeholders[name], type(placeholders[name], (_LoadedOnUse,), {"module": name}))
    try:
        importlib.import_module("typer.rich_utils")
    finally:
        for name in absent:
            del sys.modules[name]


class _HelpWithoutMarkdown:
    """Mixin: help is rendered after :func:`import_help_renderer`."""

    def format_help(self, ctx: Any, formatter: Any) -> None:
        import_help_renderer()
        super().format_help(ctx, formatter)  # type: ignore[misc]


class Command(_HelpWithoutMarkdown, _Relabelled, TyperCommand):
    """A Typer command with :func:`value_label` in its help."""


class Group(_HelpWithoutMarkdown, _Relabelled, TyperGroup):
    """A Typer group with :func:`value_label` in its help."""


class Sub(NamedTuple):
    """A subcommand of a :class:`LazyGroup`: ``"module:function"`` that registers it on an app, and
    the one-line help its group's --help lists (the first paragraph of its own help)."""

    register: str
    help: str
    hidden: bool = False


class LazyGroup(Group):
    """A group that imports and builds a subcommand only when it is invoked, so that ``--help`` and
    usage errors of one command do not pay for every module of the CLI.

    Until then each subcommand is a stand-in carrying :attr:`Sub.help`, which is what this group's own
    help lists; ``tests/test_cli_help.py`` checks that text against the loaded command's.
    """

    #: subcommand name → :class:`Sub`, in the order the help lists them; set by each subclass
    subcommands: ClassVar[dict[str, Sub]] = {}

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        for name, sub in self.subcommands.items():
            self.commands[name] = _StandIn(name, help=sub.help, hidden=sub.hidden)
        self._listing = False

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = self.commands.get(cmd_name)
        if isinstance(command, _StandIn) and not self._listing:
            command = self.commands[cmd_name] = _load(cmd_name, self.subcommands[cmd_name])
        return command

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


class _StandIn(TyperCommand):
    """What a :class:`LazyGroup` holds for a subcommand not loaded yet: its name and short help."""


def _load(name: str, sub: Sub) -> Any:
    """Import the module of ``sub``, register its commands on a fresh app and build ``name``."""
    module, _, function = sub.register.partition(":")
    holder = App()
    getattr(importlib.import_module(module), function)(holder)
    return typer.main.get_group(holder).commands[name]


class App(typer.Typer):
    """typer.Typer with rich help whose groups and commands use :func:`value_label`."""

    def __init__(self, *, cls: type[Group] = Group, **kwargs: Any):
        super().__init__(cls=cls, rich_markup_mode="rich", **kwargs)

    def command(self, *args: Any, cls: type[TyperCommand] | None = None, **kwargs: Any) -> Any:
        return super().command(*args, cls=cls or Command, **kwargs)
