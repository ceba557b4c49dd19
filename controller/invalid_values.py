"""What a person reads about an invalid value: pydantic's validation errors as robot `Message`s.

Validation stays pydantic's (the models of `controller.config`, the web app's request bodies), and its
English text stays for logs. A person reads each problem from the catalogues (`invalid.*`) in their
language: a bound (`at most 0.25`), a wrong type (`must be a number`), a missing value, a choice that is
none (listing the choices in words, `choice.<field>.*`), or a model's own check, which raises
`InvalidValue` with its message instead of a plain ValueError. A field is named by the words the staff
page labels it with (`field.*`), else as the form and the file write it:

    raise InvalidValue(Message("invalid.bowls_distinct", bowls="[0, 0]"))  # pydantic keeps the error
    refusal(exc.errors())  # Message("refusal.invalid_value", cause=...): each problem, its field named
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from controller.messages import DEFAULT_LANGUAGE, Message, MessageError, robot_messages

SHOWN_CHARS = 80  # a value given as text is shown up to this length


class InvalidValue(MessageError, ValueError):
    """A model's own check refused a value: pydantic reports it as a value error and keeps this
    exception (its `ctx["error"]`), whose `message` a person reads; str() is the English text."""


def problem(error: Mapping[str, Any], field: str = "") -> Message:
    """One validation error (a dict of pydantic's `errors()`) as what is wrong, without naming its
    `field` (the dotted name, whose choices a wrong choice lists)."""
    found = _cause(error, field)
    got = _shown(error.get("input"))
    if got is None or error["type"] == "missing":
        return found
    return Message("invalid.got", problem=found, got=got)


def refusal(errors: Sequence[Mapping[str, Any]], skip: int = 0) -> Message:
    """`refusal.invalid_value` naming every problem of `errors` with its field (its dotted `loc`
    without the first `skip` parts, e.g. FastAPI's "body"); a problem of the whole document has none."""
    said: Message | None = None
    for error in reversed(errors):
        where = ".".join(str(part) for part in error["loc"][skip:])
        one = Message("refusal.field", field=field_name(where), why=problem(error, where)) if where else problem(error)
        said = one if said is None else Message("invalid.also", first=one, rest=said)
    return Message("refusal.invalid_value", cause=said or Message("invalid.not_accepted"))


def field_name(field: str) -> Message | str:
    """A field (its dotted name) by the words the staff page labels it with (`field.*`), else by its name."""
    return Message(f"field.{field}") if _has_text(f"field.{field}") else field


def _has_text(key: str) -> bool:
    return key in robot_messages().texts[DEFAULT_LANGUAGE]


_BOUNDS = {"greater_than_equal": "ge", "greater_than": "gt", "less_than_equal": "le", "less_than": "lt"}


def _cause(error: Mapping[str, Any], field: str) -> Message:
    ctx = error.get("ctx") or {}
    bound = _bound(ctx.get(_BOUNDS.get(error["type"], "")))  # no number: not foreseen (none of our models)
    length = ctx.get("min_length", ctx.get("max_length"))
    match error["type"]:
        case "missing":
            return Message("invalid.missing")
        case "value_error" | "assertion_error" if isinstance(ctx.get("error"), MessageError):
            return ctx["error"].message
        case "greater_than_equal" if bound is not None:
            return Message("invalid.at_least", limit=bound)
        case "greater_than" if bound is not None:
            return Message("invalid.above", limit=bound)
        case "less_than_equal" if bound is not None:
            return Message("invalid.at_most", limit=bound)
        case "less_than" if bound is not None:
            return Message("invalid.below", limit=bound)
        case "float_parsing" | "float_type" | "decimal_parsing" | "decimal_type":
            return Message("invalid.not_number")
        case "int_parsing" | "int_type" | "int_from_float" | "int_parsing_size":
            return Message("invalid.not_whole_number")
        case "finite_number":
            return Message("invalid.not_finite")
        case "bool_parsing" | "bool_type":
            return Message("invalid.not_yes_no")
        case "string_type" | "string_unicode":
            return Message("invalid.not_text")
        case "string_too_short" if isinstance(length, int):
            return Message("invalid.text_too_short", min=length)
        case "string_too_long" if isinstance(length, int):
            return Message("refusal.too_long", max=length)
        case "too_short" if isinstance(length, int):
            return Message("invalid.too_few", min=length)
        case "too_long" if isinstance(length, int):
            return Message("invalid.too_many", max=length)
        case "enum" | "literal_error":
            return _one_of(ctx.get("expected"), field)
        case "extra_forbidden":
            return Message("invalid.unknown_field")
        case "list_type" | "tuple_type" | "dict_type" | "model_type" | "model_attributes_type" | "set_type":
            return Message("invalid.wrong_shape")
        case _:
            return Message("invalid.not_accepted")


def _one_of(expected: object, field: str) -> Message:
    """The choices pydantic `expected` ("'a', 'b' or 'c'") in words (`choice.<field>.<value>`); the plain
    `invalid.one_of` when one of them has no words (a raw value is never shown as a choice)."""
    values = re.findall(r"'([^']*)'", expected) if isinstance(expected, str) else []
    if not values or not all(_has_text(f"choice.{field}.{value}") for value in values):
        return Message("invalid.one_of")
    return Message("invalid.one_of_these", choices=_listed([Message(f"choice.{field}.{value}") for value in values]))


def _listed(items: list[Message]) -> Message:
    """Words as a list: "a, b or c"."""
    if len(items) == 1:
        return items[0]
    if len(items) == 2:
        return Message("invalid.either", first=items[0], last=items[1])
    return Message("invalid.listed", first=items[0], rest=_listed(items[1:]))


def _bound(value: object) -> int | float | None:
    """A bound or a given value as a number; None for anything else, a bool too."""
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def _shown(value: object) -> int | float | str | None:
    """The value a person gave, as the text shows it: a number as a number (in the reader's way of
    writing it), a text quoted and shortened; nothing for anything else (missing, a list, a table)."""
    if (number := _bound(value)) is not None:
        return number if math.isfinite(number) else None
    if not isinstance(value, str):
        return None
    text = repr(value)
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 3] + "..."
