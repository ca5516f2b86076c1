"""``App``: typer.Typer whose help names values the way people write them.

Typer (0.29) labels every value with its Python type: ``<bool>`` after each flag,
``<list[Path]>`` for repeatable paths, ``<str>``. Commands and groups made by :class:`App` show
nothing after a flag, an option's own ``metavar`` (``KEY=VALUE``) where it has one, ``<path>``
for a repeatable path option and ``<path>...`` for an argument taking several.
"""

from __future__ import annotations

import re
from typing import Any

import typer
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


class _Relabelled:
    """Mixin: every parameter (the help option too) gets :func:`value_label` for its help, and
    arguments are named in capitals (``MODEL``, ``INPUTS``) as the docstrings refer to them."""

    def get_params(self, ctx: Any) -> list[Any]:
        params = super().get_params(ctx)  # type: ignore[misc]
        for param in params:
            param.display_type_rich = lambda ctx, param=param: value_label(param, ctx)
            if isinstance(param, TyperArgument) and param.metavar is None:
                param.metavar = param.name.upper()
        return params


class Command(_Relabelled, TyperCommand):
    """A Typer command with :func:`value_label` in its help."""


class Group(_Relabelled, TyperGroup):
    """A Typer group with :func:`value_label` in its help."""


class App(typer.Typer):
    """typer.Typer with rich help whose groups and commands use :func:`value_label`."""

    def __init__(self, *, cls: type[Group] = Group, **kwargs: Any):
        super().__init__(cls=cls, rich_markup_mode="rich", **kwargs)

    def command(self, *args: Any, cls: type[TyperCommand] | None = None, **kwargs: Any) -> Any:
        return super().command(*args, cls=cls or Command, **kwargs)
