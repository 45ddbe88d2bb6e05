"""The method registry: ``@register_method("name")`` and plugin loading.

Methods are registered per *modality*: ``image`` (classifiers, the default) and ``text``
(language models). The same name may exist in both (``npo`` for a classifier and for a
language model); the scenario's protocol decides which one a run uses.

A family of methods that needs an optional dependency is declared with
:func:`register_lazy_methods`: its module is imported (and registers its methods) only when
one of its names is asked for, so that the rest of CLUB runs without the dependency.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Callable, TypeVar

from .base import Method, MethodError

MODALITIES = ("image", "text")
_REGISTRY: dict[str, dict[str, type[Method]]] = {modality: {} for modality in MODALITIES}
M = TypeVar("M", bound=type[Method])


_LAZY: dict[str, tuple[str, str, str]] = {}  # name prefix -> (module, package it needs, pip extra)
_UNRUNNABLE: dict[str, str] = {}  # name -> why CLUB cannot run it


def register_lazy_methods(prefix: str, module: str, *, requires: str, extra: str) -> None:
    """Declare that ``module`` registers the image methods named ``<prefix>...``. It is imported
    the first time such a name is looked up (or by :func:`load_lazy_methods`); when the package
    ``requires`` is missing, the lookup fails with the ``pip install -e '.[extra]'`` to run."""
    _LAZY[prefix] = (module, requires, extra)


def register_unrunnable(name: str, reason: str) -> None:
    """Name a method that exists elsewhere but cannot run on CLUB's protocols: :func:`get_method`
    refuses it with ``reason``."""
    _UNRUNNABLE[name] = reason


def _import_lazy(prefix: str, asked: str) -> None:
    module, requires, extra = _LAZY[prefix]
    try:
        importlib.import_module(module)
    except ModuleNotFoundError as e:
        if (e.name or "").split(".")[0] != requires:
            raise
        raise MethodError(f"{asked} {requires}, which is not installed: pip install -e '.[{extra}]'") from None


def load_lazy_methods() -> list[str]:
    """Import every lazily declared family of methods; the install hint of each that cannot be imported."""
    missing = []
    for prefix in _LAZY:
        try:
            _import_lazy(prefix, f"{prefix}* methods need")
        except MethodError as e:
            missing.append(str(e))
    return missing


def register_method(name: str, modality: str = "image") -> Callable[[M], M]:
    """Class decorator adding a :class:`Method` subclass to the registry of ``modality``
    (``image`` or ``text``) under ``name``."""
    if modality not in _REGISTRY:
        raise ValueError(f"unknown modality {modality!r}; choose from {', '.join(MODALITIES)}")

    def register(cls: M) -> M:
        if not (isinstance(cls, type) and issubclass(cls, Method)):
            raise TypeError(f"@register_method({name!r}) must decorate a subclass of methods.Method")
        if name in _REGISTRY[modality]:
            other = _REGISTRY[modality][name]
            raise ValueError(f"method {name!r} is already registered by {other.__module__}.{other.__qualname__}")
        cls.name = name
        cls.modality = modality
        _REGISTRY[modality][name] = cls
        return cls

    return register


def get_method(name: str, modality: str = "image") -> type[Method]:
    """The class registered under ``name`` for ``modality``; a ``KeyError`` names the valid choices
    (or says why a known method cannot run), a :class:`MethodError` says how to install what a
    lazily declared method needs."""
    if modality == "image" and name not in _REGISTRY["image"]:
        for prefix in _LAZY:
            if name.startswith(prefix):
                _import_lazy(prefix, f"method {name!r} needs")
    if modality == "image" and name in _UNRUNNABLE:
        raise KeyError(f"method {name!r} cannot run on CLUB's protocols: {_UNRUNNABLE[name]}")
    if name not in _REGISTRY.get(modality, {}):
        raise KeyError(f"unknown method {name!r}; choose from {', '.join(method_names(modality))}")
    return _REGISTRY[modality][name]


def method_names(modality: str = "image") -> list[str]:
    """Every method name registered for ``modality``, sorted."""
    return sorted(_REGISTRY.get(modality, {}))


def load_plugin(spec: str) -> None:
    """Import a user's file (``path/to/file.py``) or module (``pkg.mod``) so that its
    ``@register_method`` decorators run. A file is imported as module ``club_plugin_<stem>``
    so that checkpoints of its methods can be unpickled after a restart.
    """
    path = Path(spec)
    if path.is_dir() and ("/" in spec or "\\" in spec):
        raise ValueError(f"plugin {spec!r} is a folder; name the .py file that registers the methods, or a module")
    if spec.endswith(".py") or path.is_file():
        if not path.is_file():
            raise FileNotFoundError(f"plugin file {spec!r} does not exist")
        if path.suffix != ".py":
            raise ValueError(f"plugin file {spec!r} is not a Python file (.py)")
        module_name = f"club_plugin_{path.stem}"
        if module_name in sys.modules:
            return
        module_spec = importlib.util.spec_from_file_location(module_name, path.resolve())
        assert module_spec is not None and module_spec.loader is not None
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[module_name] = module
        try:
            module_spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[module_name]
            raise
    else:
        importlib.import_module(spec)
