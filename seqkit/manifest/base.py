"""What the manifest checks share: the error they raise and the type checks."""
from __future__ import annotations

import functools
import math
import typing

SHOWN = 3  # names shown in a message before "and N more"


class Invalid(Exception):
    """A problem found at ``key``: becomes one SeqkitError line naming the file."""

    def __init__(self, key: str, message: str, where: str = "manifest"):
        super().__init__(key, message)
        self.key, self.message, self.where = key, message, where


class Unknown(Exception):
    """A layer type (or cell) whose parameters only its plugin knows."""


# -- small helpers -------------------------------------------------------------
def line(text: str) -> str:
    return " ".join(str(text).split())


def short(value, limit: int = 40) -> str:
    text = line(repr(value))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def short_key(key: str) -> str:
    return key if len(key) <= 80 else key[:38] + "..." + key[-38:]


def some(names, shown: int = SHOWN) -> str:
    names = [short(n, 60).strip("'\"") for n in names]
    if len(names) <= shown:
        return ", ".join(names)
    return f"{', '.join(names[:shown])} and {len(names) - shown} more"


def is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


_WHAT = {int: "an integer", float: "a finite number", str: "a string", bool: "true or false",
         dict: "an object", list: "a list"}


def check_type(key: str, value, kind, optional: bool = False):
    ok = {int: is_int, float: is_number, bool: lambda v: isinstance(v, bool),
          str: lambda v: isinstance(v, str), dict: lambda v: isinstance(v, dict),
          list: lambda v: isinstance(v, list)}[kind]
    if (value is None and optional) or ok(value):
        return value
    raise Invalid(key, f"must be {_WHAT[kind]}{' or null' if optional else ''}, "
                        f"not {short(value)}")


def required(d: dict, key: str, where: str):
    if key not in d:
        raise Invalid(f"{where}.{key}" if where else key, "is missing")
    return d[key]


def int_at_least(key: str, value, low: int) -> int:
    check_type(key, value, int)
    if value < low:
        raise Invalid(key, f"must be at least {low}, not {short(value)}")
    return value


def choice(key: str, value, choices):
    if not isinstance(value, str) or value not in choices:
        raise Invalid(key, f"must be one of {', '.join(choices)}, not {short(value)}")
    return value


@functools.cache
def type_hints_of(cls) -> dict:
    return typing.get_type_hints(cls)


def field_kind(hint):
    """(python type, optional) of a dataclass field's annotation."""
    args = typing.get_args(hint)
    if args:  # X | None
        inner = [a for a in args if a is not type(None)]
        return inner[0], type(None) in args
    return hint, False


