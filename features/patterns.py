"""Regular expressions from users and models, run on RE2: time linear in the text, always.

A taxonomy URL rule or a signal pattern comes from `friction.toml` or from a model's
featurizer config, and is applied to pages and event names that come from the data (or an
API request). Python's backtracking engine can take exponential time on a pattern such as
`^/(a+)+$`; RE2 cannot, because it has no backtracking. The price is its syntax: no
backreferences and no lookaround. Such patterns are refused when the config is loaded,
with the pattern named, rather than run on the other engine.
"""

from __future__ import annotations

from typing import Any

import re2

__all__ = ["LinearPattern", "check_pattern"]


def _options() -> Any:
    options = re2.Options()
    options.log_errors = False  # RE2 would also print the error on stderr; ours is the one line
    return options


class LinearPattern:
    """A compiled RE2 pattern; `search` has Python's `re.search` meaning."""

    __slots__ = ("_compiled", "pattern")

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        try:
            self._compiled = re2.compile(pattern, _options())
        except re2.error as exc:
            reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
            raise ValueError(
                f"bad regular expression {pattern!r}: {reason} (patterns run on RE2, a linear-time "
                "engine without backreferences or lookaround)"
            ) from None

    def search(self, text: str) -> bool:
        return self._compiled.search(text) is not None

    def __repr__(self) -> str:
        return f"LinearPattern({self.pattern!r})"


def check_pattern(pattern: str) -> str:
    """`pattern` itself if RE2 compiles it, else ValueError naming it (for pydantic validators)."""
    LinearPattern(pattern)
    return pattern
