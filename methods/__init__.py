"""Methods: who learns and forgets. ``from methods import Method, register_method, get_method``.

Built-in methods are imported on first use (``get_method``); see :mod:`methods.catalog`.
"""

from .base import Diverged, Method, MethodError, StreamInfo
from .registry import get_method, load_lazy_methods, load_plugin, method_entry, method_names, register_method

__all__ = [
    "Diverged",
    "Method",
    "MethodError",
    "StreamInfo",
    "get_method",
    "load_lazy_methods",
    "load_plugin",
    "method_entry",
    "method_names",
    "register_method",
]
