"""Errors a user can cause, and that every entry point reports as one clear line.

FrictionError          base: the CLI prints its message and exits non-zero
├── ConfigError        friction.toml or a flag is wrong (names the key)
├── SchemaError        an input lacks a required column (names it, "did you mean")
└── DataQualityError   too many malformed rows (names the rate and the limit)
"""

from __future__ import annotations

__all__ = ["ConfigError", "DataQualityError", "FrictionError", "SchemaError"]


class FrictionError(Exception):
    """A user error with a message fit to show as is."""


class ConfigError(FrictionError):
    """Bad configuration: unknown key, wrong type or impossible value."""


class SchemaError(FrictionError):
    """An input does not have the columns the event contract requires."""


class DataQualityError(FrictionError):
    """The share of malformed rows exceeds the configured limit."""
