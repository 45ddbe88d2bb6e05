"""Leaderboard: reads ``result.json`` files only; validates and re-derives their numbers."""

from .schema import SCHEMA_VERSION, InvalidResult, recompute_metrics, validate_result

__all__ = ["SCHEMA_VERSION", "InvalidResult", "recompute_metrics", "validate_result"]
