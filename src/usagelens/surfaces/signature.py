"""The ``usage`` arguments as function parameters, for libraries that read a signature.

FastAPI (query parameters), Typer (options) and the MCP SDK (the tool's input schema and its
argument validation) each build their interface from a function's signature. A surface writes
its ``usage`` function with ``**arguments`` and decorates it with ``with_arguments(parameter)``:
the function then shows one keyword parameter per ``query.ARGUMENTS`` entry, so the declaration
stays the one place an argument is named, typed and described.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from usagelens.query import ARGUMENTS, Argument

__all__ = ["Parameter", "with_arguments"]

#: How a surface publishes one argument: ``(annotation, default)``.
Parameter = Callable[[Argument], tuple[Any, Any]]
F = TypeVar("F", bound=Callable[..., Any])


def with_arguments(parameter: Parameter) -> Callable[[F], F]:
    """A decorator giving a function that takes ``**arguments`` one keyword-only parameter per
    declared argument, in declaration order, before the function's own parameters (which become
    keyword-only too); ``parameter(argument)`` gives each one's annotation and default.

    The function is returned itself, with ``__signature__`` and ``__annotations__`` set (both,
    because Typer and the MCP SDK also read type hints); a library calls it with every argument
    by name, so ``arguments`` holds all of them (the default when not given).
    """

    def decorate(fn: F) -> F:
        own = inspect.signature(fn, eval_str=True)
        if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in own.parameters.values()):
            raise TypeError(f"{fn.__name__} must take **arguments to receive the usage arguments")
        declared = []
        for a in ARGUMENTS:
            annotation, default = parameter(a)
            declared.append(
                inspect.Parameter(a.name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)
            )
        kept = [
            p.replace(kind=inspect.Parameter.KEYWORD_ONLY)
            for p in own.parameters.values()
            if p.kind is not inspect.Parameter.VAR_KEYWORD
        ]
        signature = own.replace(parameters=[*declared, *kept])
        fn.__signature__ = signature  # type: ignore[attr-defined]
        hints = {p.name: p.annotation for p in signature.parameters.values() if p.annotation is not p.empty}
        if signature.return_annotation is not signature.empty:
            hints["return"] = signature.return_annotation
        fn.__annotations__ = hints
        return fn

    return decorate
