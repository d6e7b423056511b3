"""Words in names and URL paths, the way `friction init` reads an unfamiliar vocabulary.

`tokens("addPaymentInfo")` and `tokens("add-payment_info")` are both
`("add", "payment", "info")`; digits are their own token (`error404` -> `error`, `404`).
`url_template("/p/10177")` is `"/p/{id}"`: path segments that are identifiers (numbers,
hashes, UUIDs) become `{id}`, so one product page stands for all of them.
"""

from __future__ import annotations

import itertools
import re

__all__ = ["joined_pairs", "tokens", "url_template"]

# A word is a run of lower-case letters after at most one capital (camelCase), a run of
# capitals not followed by a lower-case letter (an acronym: `HTTPError` -> http, error), or digits.
_WORD = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|[0-9]+")
# A segment that names one record rather than a kind of page.
_ID_SEGMENT = re.compile(
    r"^(?:[0-9]+|[0-9a-fA-F]{8,}|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    r"|(?=[A-Za-z_-]*[0-9])[A-Za-z0-9_-]{10,})$"
)


def tokens(name: str) -> tuple[str, ...]:
    """Lower-case words of a name: snake_case, camelCase, kebab-case, dotted and slashed paths."""
    return tuple(word.lower() for word in _WORD.findall(name))


def joined_pairs(words: tuple[str, ...]) -> tuple[str, ...]:
    """Each word and each pair of neighbours written as one (`sign`, `in` -> `signin`)."""
    return (*words, *(a + b for a, b in itertools.pairwise(words)))


def url_template(path: str) -> str:
    """The path with its identifier segments as `{id}` (`/p/123/reviews` -> `/p/{id}/reviews`)."""
    segments = path.split("/")
    return "/".join("{id}" if _ID_SEGMENT.match(s) else s for s in segments)
