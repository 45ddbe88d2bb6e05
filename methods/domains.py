"""The values a hyperparameter may take, declared where the hyperparameter is declared.

A method's hyperparameters are the keyword-only arguments of its ``__init__``; the domain
of one rides on its annotation, so a plugin gets the same checking as a built-in method::

    def __init__(self, info, device, *, lr: Annotated[float, Positive] = 0.05,
                 optimizer: Annotated[str, OneOf("sgd", "adam")] = "sgd", **kwargs): ...

:meth:`methods.Method.hyperparameter_domains` gathers them over the class hierarchy; the
runner checks every value (``--set``, per-preset configs) against them before any work.
Numbers must also be finite whatever their domain (NaN and infinity are never a setting).
"""

from __future__ import annotations

import math
import typing
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Callable


class Domain(ABC):
    """A set of allowed values; ``problem(value)`` says why a value is outside it, or ``None``."""

    @abstractmethod
    def problem(self, value: Any) -> str | None:
        """Why ``value`` is outside the domain, or ``None`` when it is inside."""

    def __repr__(self) -> str:
        return self.describe()

    @abstractmethod
    def describe(self) -> str:
        """The domain in words, e.g. ``"> 0"``."""


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass(frozen=True, repr=False)
class Interval(Domain):
    """Numbers between ``low`` and ``high`` (each end open or closed; ±inf for none)."""

    low: float = -math.inf
    high: float = math.inf
    low_open: bool = False
    high_open: bool = False

    def problem(self, value: Any) -> str | None:
        if not _number(value) or not math.isfinite(value):
            return f"must be a finite number {self.describe()}".rstrip()
        too_low = value <= self.low if self.low_open else value < self.low
        too_high = value >= self.high if self.high_open else value > self.high
        return f"must be {self.describe()}" if too_low or too_high else None

    def describe(self) -> str:
        if self.low == -math.inf and self.high == math.inf:
            return ""
        if self.high == math.inf:
            return f"{'>' if self.low_open else '>='} {self.low:g}"
        if self.low == -math.inf:
            return f"{'<' if self.high_open else '<='} {self.high:g}"
        return f"in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}{')' if self.high_open else ']'}"


def AtLeast(low: float) -> Interval:  # noqa: N802  (reads as a type in annotations)
    """``value >= low``, e.g. ``AtLeast(1)`` for a count of epochs."""
    return Interval(low)


Positive = Interval(0.0, low_open=True)
NonNegative = Interval(0.0)
Fraction = Interval(0.0, 1.0)
Finite = Interval()


@dataclass(frozen=True, repr=False)
class OneOf(Domain):
    """One of a fixed set of choices."""

    choices: tuple[Any, ...]

    def __init__(self, *choices: Any) -> None:
        object.__setattr__(self, "choices", tuple(choices))

    def problem(self, value: Any) -> str | None:
        return None if value in self.choices else f"must be {self.describe()}"

    def describe(self) -> str:
        return "one of " + ", ".join(str(c) for c in self.choices)


def parameter_domains(function: Callable) -> dict[str, Domain]:
    """The :class:`Domain` in the ``Annotated[...]`` annotation of each parameter of ``function``.

    Annotations are strings under ``from __future__ import annotations``; they are resolved in
    the function's module. One that cannot be resolved (a name imported only for type
    checkers) simply has no domain.
    """
    try:
        hints = typing.get_type_hints(function, include_extras=True)
    except Exception:  # one unresolvable annotation: resolve the others one by one
        hints = {}
        namespace = getattr(function, "__globals__", {})
        for name, annotation in getattr(function, "__annotations__", {}).items():
            try:
                hints[name] = eval(annotation, namespace) if isinstance(annotation, str) else annotation  # noqa: S307
            except Exception:
                continue
    domains = {}
    for name, hint in hints.items():
        if typing.get_origin(hint) is typing.Annotated:
            found = [m for m in hint.__metadata__ if isinstance(m, Domain)]
            if found:
                domains[name] = found[-1]
    return domains
