"""The method registry: ``@register_method("name")`` and plugin loading.

Methods are registered per *modality*: ``image`` (classifiers, the default) and ``text``
(language models). The same name may exist in both (``npo`` for a classifier and for a
language model); the scenario's protocol decides which one a run uses.

Built-in methods are imported on first use (:mod:`methods.catalog` says where each lives):
:func:`get_method` imports the method's module, :func:`method_names` and
:func:`method_entry` answer from the catalog for methods not imported yet. A family of
prefixed names (``avalanche:<Strategy>``) is registered by its module when one of its names is
first asked for (or by :func:`load_lazy_methods`, for ``--list``); a family that needs an
optional package says how to install it when the package is missing.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Callable, TypeVar

from .base import Method, MethodError
from .catalog import BUILT_IN, CAPABILITIES, FAMILIES, Entry

MODALITIES = ("image", "text")
_REGISTRY: dict[str, dict[str, type[Method]]] = {modality: {} for modality in MODALITIES}
M = TypeVar("M", bound=type[Method])


_UNRUNNABLE: dict[str, str] = {}  # name -> why CLUB cannot run it


def register_unrunnable(name: str, reason: str) -> None:
    """Name a method that exists elsewhere but cannot run on CLUB's protocols: :func:`get_method`
    refuses it with ``reason``."""
    _UNRUNNABLE[name] = reason


def _import_family(prefix: str, asked: str) -> None:
    """Import the module of family ``prefix``; a :class:`MethodError` ``"<asked> <package>, which is
    not installed: pip install ..."`` when the optional package it requires is missing."""
    family = FAMILIES[prefix]
    try:
        importlib.import_module(family.module)
    except ModuleNotFoundError as e:
        if family.requires is None or (e.name or "").split(".")[0] != family.requires:
            raise
        raise MethodError(f"{asked} {family.requires}, which is not installed: pip install -e '.[{family.extra}]'") from None


def load_lazy_methods() -> list[str]:
    """Import every family's module (so that its members are registered, e.g. for ``--list``);
    the install hint of each family whose package is missing."""
    missing = []
    for prefix in FAMILIES:
        try:
            _import_family(prefix, f"{prefix}:* methods need")
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
        built_in = BUILT_IN[modality].get(name)
        if built_in is not None and cls.__module__ != built_in.module and name not in _REGISTRY[modality]:
            importlib.import_module(built_in.module)  # the built-in owns the name: report it as registered
        if name in _REGISTRY[modality]:
            other = _REGISTRY[modality][name]
            raise ValueError(f"method {name!r} is already registered by {other.__module__}.{other.__qualname__}")
        cls.name = name
        cls.modality = modality
        _REGISTRY[modality][name] = cls
        return cls

    return register


def get_method(name: str, modality: str = "image") -> type[Method]:
    """The class registered under ``name`` for ``modality``, importing its module if it is a
    built-in (or family member) not imported yet; a ``KeyError`` names the valid choices (or says
    why a known method cannot run), a :class:`MethodError` says how to install what a family needs."""
    registry = _REGISTRY.get(modality, {})
    if name not in registry:
        built_in = BUILT_IN.get(modality, {}).get(name)
        prefix, colon, _ = name.partition(":")
        if built_in is not None:
            importlib.import_module(built_in.module)
        elif colon and modality == "image" and prefix in FAMILIES:
            _import_family(prefix, f"method {name!r} needs")
    if modality == "image" and name in _UNRUNNABLE:
        raise KeyError(f"method {name!r} cannot run on CLUB's protocols: {_UNRUNNABLE[name]}")
    if name not in registry:
        raise KeyError(f"unknown method {name!r}; choose from {', '.join(method_names(modality))}")
    return registry[name]


def method_names(modality: str = "image") -> list[str]:
    """Every method name known for ``modality``, sorted: the built-ins (imported or not) and every
    registered name (a family's members once its module is imported)."""
    return sorted(set(_REGISTRY.get(modality, {})) | set(BUILT_IN.get(modality, {})))


def method_entry(name: str, modality: str = "image") -> Entry:
    """Where method ``name`` lives, its one-line summary and its capabilities, from its class
    when it is imported and from the catalog otherwise (without importing it)."""
    cls = _REGISTRY.get(modality, {}).get(name)
    if cls is not None:
        doc = (cls.__doc__ or "").strip().splitlines()
        flags = tuple(f for f in CAPABILITIES if getattr(cls, f, False))
        return Entry(cls.__module__, doc[0].strip() if doc else "", flags)
    entry = BUILT_IN.get(modality, {}).get(name)
    if entry is None:
        raise KeyError(f"unknown method {name!r}; choose from {', '.join(method_names(modality))}")
    return entry


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
