"""Methods: who learns and forgets. ``from methods import Method, register_method, get_method``."""

from .base import Diverged, Method, MethodError, StreamInfo
from .registry import get_method, load_lazy_methods, load_plugin, method_names, register_lazy_methods, register_method

# Built-in methods register themselves on import.
from . import er, ewc, finetune, joint, knn, language_model, lwf, nmc, online_baselines, pec, teen, text_unlearning, unlearning, upgd  # noqa: E402,F401  isort: skip
from . import ease, finetune_vit, inflora, l2p, lora, simplecil  # noqa: E402,F401  isort: skip

# Avalanche's strategies (avalanche:<Strategy>) are imported only when one is asked for.
register_lazy_methods("avalanche:", "methods.avalanche_adapter", requires="avalanche", extra="avalanche")

__all__ = [
    "Diverged",
    "Method",
    "MethodError",
    "StreamInfo",
    "get_method",
    "load_lazy_methods",
    "load_plugin",
    "method_names",
    "register_lazy_methods",
    "register_method",
]
