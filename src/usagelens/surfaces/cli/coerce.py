"""Option values converted without pydantic, so a one-shot command does not import it.

Typer 0.29 converts every option of the command it runs through a pydantic ``TypeAdapter``:
importing pydantic (~40 ms) and building one adapter per option (~30 for ``usage``) on every
run. Our options are plain ``str``, ``int`` (some with ``min``/``max``), ``list[str]`` and
``bool`` flags (which Typer does not convert). For the first three, a value that is obviously
valid (a ``str``, ASCII digits within the bounds, a sequence of ``str``) converts here to exactly
what the adapter would give; any other value, and any other kind of option, goes to Typer's own
conversion (pydantic and all), so its refusals (``Input should be greater than or equal to 1`` …)
stay Typer's. ``tests/test_cli_errors.py`` compares both on every option of every command.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, get_args, get_origin

from typer._coercion import RuntimeParam, build_runtime_param
from typer.core import _TyperParameter

if TYPE_CHECKING:
    from typer._click import Command, Context

__all__ = ["plain_options"]

_ELSE = object()  # "not obviously valid": Typer converts it


def _digits(text: str) -> bool:
    """``text`` is a plain decimal integer (``-``, then ASCII digits, no leading zero, < 10¹⁸)."""
    digits = text.removeprefix("-")
    return digits.isascii() and digits.isdigit() and len(digits) <= 18 and (digits == "0" or digits[0] != "0")


def _plain(annotation: Any, value: Any, low: float | None, high: float | None) -> Any:
    """``value`` converted as Typer's adapter for ``annotation`` would, or ``_ELSE``."""
    if annotation is str:
        return value if isinstance(value, str) else _ELSE
    if annotation is int:
        if isinstance(value, str) and _digits(value):
            value = int(value)
        if type(value) is not int or (low is not None and value < low) or (high is not None and value > high):
            return _ELSE
        return value
    if get_origin(annotation) is list and get_args(annotation) == (str,):
        items = [value] if isinstance(value, str) else value
        if isinstance(items, list | tuple) and all(isinstance(v, str) for v in items):
            return list(items)
    return _ELSE


class _PlainParam(RuntimeParam):  # Typer's frozen dataclass, no field added
    """Typer's conversion contract (``coerce`` handles absent and multiple values) with a plain
    conversion first; Typer's own (``build_runtime_param``) for anything else, then kept."""

    def _coerce_value(self, value: Any, param: _TyperParameter, ctx: Context) -> Any:
        info = self.parameter_info
        if info.parser is None and not info.clamp:
            plain = _plain(self.annotation, value, info.min, info.max)
            if plain is not _ELSE:
                return plain
        typer_own = build_runtime_param(param.type_descriptor)
        param._runtime_param = typer_own
        return typer_own._coerce_value(value, param=param, ctx=ctx)


def _plain_param(param: Any) -> None:
    if isinstance(param, _TyperParameter) and param._runtime_param is None:
        descriptor = param.type_descriptor
        if descriptor.file_annotation is None:
            param._runtime_param = _PlainParam(descriptor.parameter_info, descriptor.annotation)


def plain_options(command: Command) -> Command:
    """``command`` (and its subcommands) converting plain option values without pydantic; their
    ``--help`` too, an option made when a context first asks for it."""
    for param in command.params:
        _plain_param(param)
    typer_help_option = command.get_help_option

    def get_help_option(ctx: Context) -> Any:
        option = typer_help_option(ctx)
        _plain_param(option)
        return option

    command.get_help_option = get_help_option  # type: ignore[method-assign]
    for sub in getattr(command, "commands", {}).values():
        plain_options(sub)
    return command
