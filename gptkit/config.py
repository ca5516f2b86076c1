"""Typed configuration from TOML recipes and ``--set key=value`` overrides.

Every stage declares its configuration as a (possibly nested) dataclass. A recipe is a TOML
file whose tables are named after stages (``[train]``, ``[clean]``, ...). Values are resolved
in this order, later wins: dataclass defaults < recipe < command-line options < ``--set``.
Unknown keys and wrongly typed values are rejected with the full dotted key named.
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import tomli_w

from gptkit.errors import ConfigError
from gptkit.io.remote import is_url

T = TypeVar("T")


def load_recipe(path: str | Path, _including: tuple[Path, ...] = ()) -> dict[str, Any]:
    """Read a TOML recipe; a missing file or a syntax error is a :class:`ConfigError`.

    ``include = ["train/gpt2-small.toml", ...]`` (paths relative to the recipe) reads other
    recipes first, in order, so a model shape or stage preset is written once and composite
    recipes name it; tables merge key by key, and the including recipe's own values win.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"recipe not found: {path}")
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: invalid TOML: {e}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a UTF-8 text file") from None
    includes = data.pop("include", [])
    if not isinstance(includes, list) or not all(isinstance(i, str) for i in includes):
        raise ConfigError(f"{path}: 'include' must be a list of recipe paths")
    merged: dict[str, Any] = {}
    for item in includes:
        target = path.parent / item
        if target.resolve() in (*_including, path.resolve()):
            raise ConfigError(f"{path}: include {item!r} includes itself")
        merged = merge_tables(merged, load_recipe(target, (*_including, path.resolve())))
    return merge_tables(merged, data)


def merge_tables(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` updated by ``top``, tables merged key by key (other values replaced)."""
    out = dict(base)
    for k, v in top.items():
        out[k] = merge_tables(out[k], v) if isinstance(v, Mapping) and isinstance(out.get(k), Mapping) else v
    return out


def parse_override(item: str) -> tuple[list[str], Any]:
    """Split ``a.b.c=value`` into a key path and a value parsed as a TOML literal.

    Values that are not valid TOML (``lr=fast``) are taken as plain strings, so users do not
    have to quote strings on the command line.
    """
    key, sep, raw = item.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. --set train.optim.lr=3e-4")
    raw = raw.strip()
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return key.split("."), value


def apply_overrides(data: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Return a copy of ``data`` with each ``key=value`` override set (nested by dots)."""
    out = _deepcopy(data)
    for item in overrides:
        path, value = parse_override(item)
        node = out
        for part in path[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"--set {item!r}: {'.'.join(path[:-1])} is not a table")
            node = child
        node[path[-1]] = value
    return out


def set_in(data: dict[str, Any], dotted: str, value: Any) -> None:
    """Set ``data[a][b][c] = value`` for ``dotted='a.b.c'``, creating tables on the way."""
    *parents, last = dotted.split(".")
    node = data
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value


def build(cls: type[T], data: Mapping[str, Any] | None = None, prefix: str = "") -> T:
    """Build the dataclass ``cls`` from ``data``, checking keys and types.

    ``prefix`` is the dotted name of this table, used in error messages.
    """
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    data = dict(data or {})
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        key = _join(prefix, unknown[0])
        known = ", ".join(sorted(fields))
        raise ConfigError(f"unknown config key '{key}' (known keys of '{prefix or 'config'}': {known})")
    for name, value in data.items():  # a partial table changes only the keys it names
        factory = fields[name].default_factory
        if isinstance(value, Mapping) and factory is not dataclasses.MISSING and dataclasses.is_dataclass(default := factory()):
            data[name] = _merge(to_dict(default), value)
    kwargs = {name: _coerce(hints[name], value, _join(prefix, name)) for name, value in data.items()}
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as e:  # __post_init__ validation
        raise ConfigError(f"{prefix or 'config'}: {e}") from None


def resolve(
    cls: type[T],
    section: str,
    recipe: str | Path | None = None,
    options: Mapping[str, Any] | None = None,
    overrides: Sequence[str] = (),
) -> T:
    """Resolve the config of one stage: defaults < recipe[section] < options < overrides.

    ``options`` maps dotted keys inside the section (``"workers"``, ``"optim.lr"``) to values
    given as command-line options; ``None`` values mean "not given" and are ignored.
    ``overrides`` are ``--set`` items whose keys start with ``section.``.
    """
    data: dict[str, Any] = {}
    if recipe is not None:
        full = load_recipe(recipe)
        table = full.get(section, {})
        if not isinstance(table, dict):
            raise ConfigError(f"{recipe}: '{section}' must be a table")
        data = _deepcopy(table)
    for key, value in (options or {}).items():
        if value is not None:
            set_in(data, key, value)
    for item in overrides:
        path, _ = parse_override(item)
        if path[0] != section:
            raise ConfigError(
                f"--set {item!r}: unknown config key '{'.'.join(path)}' (this command reads '{section}.*')"
            )
    data = apply_overrides({section: data}, overrides)[section]
    return build(cls, data, section)


def to_dict(cfg: Any) -> dict[str, Any]:
    """A plain, TOML/JSON-serialisable dict of a config dataclass (paths as strings)."""
    return _plain(dataclasses.asdict(cfg))


def dump_toml(sections: Mapping[str, Any], path: str | Path) -> None:
    """Write ``{section: config}`` as a TOML recipe (used to save the resolved config)."""
    from gptkit.io.atomic import atomic_write_text

    doc = {name: to_dict(cfg) if dataclasses.is_dataclass(cfg) else _plain(cfg) for name, cfg in sections.items()}
    atomic_write_text(Path(path), tomli_w.dumps(_drop_none(doc)))


def _coerce(tp: Any, value: Any, key: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(arg, value, key)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0] if len(errors) == 1 else f"{key}: invalid value {value!r}")
    if origin is typing.Literal:
        if value not in args:
            choices = ", ".join(repr(a) for a in args)
            raise ConfigError(f"{key}: expected one of {choices}, got {value!r}")
        return value
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}: expected a table, got {_typename(value)} {value!r}")
        return build(tp, value, key)
    if origin in (list, tuple, Sequence) or tp in (list, tuple):
        if isinstance(value, str | bytes) or not isinstance(value, list | tuple):
            raise ConfigError(f"{key}: expected a list, got {_typename(value)} {value!r}")
        item_tp = args[0] if args else Any
        items = [_coerce(item_tp, v, f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin in (dict, Mapping) or tp is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}: expected a table, got {_typename(value)} {value!r}")
        val_tp = args[1] if len(args) == 2 else Any
        return {str(k): _coerce(val_tp, v, f"{key}.{k}") for k, v in value.items()}
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected true or false, got {_typename(value)} {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected an integer, got {_typename(value)} {value!r}")
    if tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(f"{key}: expected a number, got {_typename(value)} {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{key}: expected a string, got {_typename(value)} {value!r}")
    if tp is Path:
        if isinstance(value, str) and is_url(value):
            return value  # Path() would fold "s3://b/x" into "s3:/b/x"; stages fetch URLs (gptkit.io.remote)
        if isinstance(value, str | Path):
            return Path(value)
        raise ConfigError(f"{key}: expected a path, got {_typename(value)} {value!r}")
    raise TypeError(f"config type {tp!r} of '{key}' is not supported")


def _typename(value: Any) -> str:
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "list", dict: "table"}.get(
        type(value), type(value).__name__
    )


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _merge(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``top``'s keys set, tables merged key by key."""
    out = dict(base)
    for key, value in top.items():
        both_tables = isinstance(value, Mapping) and isinstance(out.get(key), dict)
        out[key] = _merge(out[key], value) if both_tables else value
    return out


def _deepcopy(data: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _deepcopy(v) if isinstance(v, Mapping) else v for k, v in data.items()}


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def _drop_none(value: Any) -> Any:
    """TOML has no null: leave ``None`` keys out (they mean "default")."""
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value]
    return value
