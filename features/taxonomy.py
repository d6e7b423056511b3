"""Touchpoint taxonomy: event/URL rules -> touchpoint, and the funnel order (`[touchpoints]`).

The default e-commerce taxonomy is `features/data/taxonomy.toml`, shipped inside the package
and read as package data (whatever the working directory or install). `friction.toml` rules are tried
before the file's rules, its `funnel` replaces the file's, its `touchpoints` add to it.
Rules are evaluated once per distinct event name and once per distinct page, never per
row: each distinct value gets a bitmask of the rules it satisfies and a row's
touchpoint is the first rule set in both its event's and its page's mask.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

import numpy as np
from pydantic import Field, ValidationError, field_validator, model_validator

from features.errors import ConfigError
from features.patterns import LinearPattern, check_pattern
from features.schema import did_you_mean
from features.section import Section
from features.sessions import offsets

__all__ = [
    "DEFAULT_TAXONOMY",
    "OTHER",
    "RESERVED_NAMES",
    "Taxonomy",
    "TaxonomyFile",
    "TouchpointRule",
    "TouchpointsConfig",
    "load_taxonomy",
]

# Package data: found in a checkout, an editable install and a wheel alike.
DEFAULT_TAXONOMY: Traversable = files("features") / "data" / "taxonomy.toml"
OTHER = "other"
# Feature names are `<touchpoint>__<measure>`; these prefixes name the session-level ones.
RESERVED_NAMES = frozenset({"session", "funnel", "context"})
_NAME = re.compile(r"^[A-Za-z0-9]+(_[A-Za-z0-9]+)*$")
_CACHE_LIMIT = 200_000  # distinct pages (or events) whose rule masks are kept
_TABLE_LIMIT = 1 << 22  # distinct events x distinct pages resolved as one table


def _check_name(name: str) -> str:
    if not _NAME.match(name) or name in RESERVED_NAMES:
        raise ValueError(
            f"touchpoint name {name!r} must be letters, digits and single underscores, "
            f"and not one of {sorted(RESERVED_NAMES)}"
        )
    return name


class TouchpointRule(Section):
    """Events matching `event` (exact name) and/or `url` (regular expression) -> touchpoint."""

    touchpoint: str
    event: str | None = None
    # Searched in the `page` column (on RE2: features/patterns.py); anchor it with ^ and $ to
    # match whole paths.
    url: str | None = None

    @field_validator("touchpoint")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        return _check_name(value)

    @field_validator("url")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            check_pattern(value)
        return value

    @model_validator(mode="after")
    def _matches_something(self) -> TouchpointRule:
        if self.event is None and self.url is None:
            raise ValueError(f"rule for touchpoint {self.touchpoint!r} needs `event` or `url`")
        return self


class TaxonomyFile(Section):
    """The taxonomy file's shape (see features/data/taxonomy.toml); `[touchpoints]` extends it."""

    # Tried in order; the first matching rule wins.
    rules: list[TouchpointRule] = Field(default_factory=list)
    # Funnel stages in order.
    funnel: list[str] = Field(default_factory=list)
    # Touchpoints no rule produces but a `touchpoint` column in the data may name.
    touchpoints: list[str] = Field(default_factory=list)

    @field_validator("funnel", "touchpoints")
    @classmethod
    def _valid_names(cls, value: list[str]) -> list[str]:
        return [_check_name(name) for name in value]


class TouchpointsConfig(TaxonomyFile):
    """`[touchpoints]`: its rules are tried before the file's; an empty funnel keeps the file's."""

    # None: the default e-commerce taxonomy, features/data/taxonomy.toml.
    taxonomy: Path | None = None
    # True: these rules are the whole taxonomy and no file is read. `self_contained` sets it
    # so that a model carries its taxonomy instead of depending on a file at scoring time.
    inline: bool = False

    def self_contained(self) -> TouchpointsConfig:
        """The merged taxonomy (file + these rules) as one inline section, same touchpoint order."""
        taxonomy = load_taxonomy(self)
        return TouchpointsConfig(
            rules=list(taxonomy.rules),
            funnel=list(taxonomy.funnel),
            touchpoints=[name for name in taxonomy.touchpoints if name != OTHER],
            inline=True,
        )

    @model_validator(mode="after")
    def _inline_reads_no_file(self) -> TouchpointsConfig:
        if self.inline and self.taxonomy is not None:
            raise ValueError("`inline = true` reads no taxonomy file; remove `taxonomy` or `inline`")
        return self


@dataclass(frozen=True, eq=False)
class Taxonomy:
    """A compiled taxonomy: the touchpoints (funnel first, `other` last) and their rules."""

    touchpoints: tuple[str, ...]
    funnel: tuple[str, ...]
    rules: tuple[TouchpointRule, ...]
    source: str
    # Funnel stage (0-based) of each touchpoint code; -1 off the funnel.
    stages: np.ndarray = field(init=False)
    _rule_codes: np.ndarray = field(init=False)
    _patterns: tuple[LinearPattern | None, ...] = field(init=False)
    _page_cache: dict[str | None, int] = field(init=False, default_factory=dict)
    _event_cache: dict[str | None, int] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        index = {name: code for code, name in enumerate(self.touchpoints)}
        stages = np.full(len(self.touchpoints), -1, dtype=np.int64)
        stages[np.array([index[name] for name in self.funnel], np.int64)] = np.arange(len(self.funnel))
        object.__setattr__(self, "stages", stages)
        object.__setattr__(self, "_rule_codes", np.array([index[r.touchpoint] for r in self.rules], np.int64))
        patterns = tuple(None if r.url is None else LinearPattern(r.url) for r in self.rules)
        object.__setattr__(self, "_patterns", patterns)

    @property
    def other(self) -> int:
        return len(self.touchpoints) - 1

    def _event_mask(self, name: str | None) -> int:
        """Bit r is set where rule r accepts the event name (or has no `event`); cached per name."""
        mask = self._event_cache.get(name)
        if mask is None:
            mask = sum(
                1 << r for r, rule in enumerate(self.rules) if rule.event is None or rule.event == name
            )
            if len(self._event_cache) >= _CACHE_LIMIT:
                self._event_cache.clear()
            self._event_cache[name] = mask
        return mask

    def _page_mask(self, page: str | None) -> int:
        """Bit r is set where rule r accepts the page (or has no `url`); cached per page."""
        mask = self._page_cache.get(page)
        if mask is None:
            mask = sum(
                1 << r
                for r, p in enumerate(self._patterns)
                if p is None or (page is not None and p.search(page))
            )
            if len(self._page_cache) >= _CACHE_LIMIT:
                self._page_cache.clear()
            self._page_cache[page] = mask
        return mask

    def _masks(self, codes: np.ndarray, values: np.ndarray, mask: Callable[[str | None], int]) -> np.ndarray:
        """Rule bitmasks of the distinct values the codes use, in 64-rule blocks.

        Shape (blocks, len(values) + 1); the last column is a missing value (code -1).
        """
        blocks = max(1, -(-len(self.rules) // 64))
        out = np.zeros((blocks, len(values) + 1), dtype=np.uint64)
        used = offsets(np.bincount(codes + 1, minlength=len(values) + 1) > 0) - 1
        whole = [mask(None if code < 0 else str(values[code])) for code in used.tolist()]
        low = (1 << 64) - 1
        out[:, used] = [[(m >> (64 * b)) & low for m in whole] for b in range(blocks)]
        return out

    def map_codes(
        self,
        event_codes: np.ndarray,
        event_names: np.ndarray,
        page_codes: np.ndarray | None,
        pages: np.ndarray | None,
    ) -> np.ndarray:
        """Touchpoint code per row from its event and page codes (code -1: missing value)."""
        if page_codes is None or pages is None:
            page_codes, pages = np.full(len(event_codes), -1, np.int64), np.array([], dtype=object)
        event_masks = self._masks(event_codes, event_names, self._event_mask)
        page_masks = self._masks(page_codes, pages, self._page_mask)
        cells = event_masks.shape[1] * page_masks.shape[1]
        if cells <= min(_TABLE_LIMIT, len(event_codes)):
            # Fewer (event, page) pairs than rows: resolve every pair once, then look rows up.
            every_event = np.arange(event_masks.shape[1])[:, None]
            every_page = np.arange(page_masks.shape[1])[None, :]
            table = self._resolve(event_masks, page_masks, every_event, every_page)
            return np.asarray(table[event_codes, page_codes])
        return self._resolve(event_masks, page_masks, event_codes, page_codes)

    def _resolve(
        self, event_masks: np.ndarray, page_masks: np.ndarray, events: np.ndarray, pages: np.ndarray
    ) -> np.ndarray:
        """The touchpoint of the first rule matching each (event code, page code), broadcast."""
        result = np.full(np.broadcast_shapes(events.shape, pages.shape), self.other, dtype=np.int64)
        pending = np.ones(result.shape, dtype=bool)
        for block in range(-(-len(self.rules) // 64)):
            both = event_masks[block][events] & page_masks[block][pages]
            # Index of the lowest set bit: the first rule of this block that matches.
            first = np.bitwise_count((both & (~both + np.uint64(1))) - np.uint64(1)).astype(np.int64)
            hit = pending & (both != 0)
            result[hit] = self._rule_codes[64 * block + first[hit]]
            pending &= ~hit
            if not pending.any():
                break
        return result

    def map_names(self, names: np.ndarray) -> tuple[np.ndarray, list[str]]:
        """Code of each given touchpoint name; unknown names go to `other` and are returned."""
        index = {name: code for code, name in enumerate(self.touchpoints)}
        codes = np.array([index.get(str(name), self.other) for name in names], dtype=np.int64)
        unknown = sorted({str(name) for name in names if str(name) not in index})
        return codes, unknown


def _read_file(path: Path | Traversable) -> TaxonomyFile:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"taxonomy file not found: {path}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read the taxonomy file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text; a taxonomy file is UTF-8 TOML") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    try:
        return TaxonomyFile.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"`{'.'.join(map(str, e['loc']))}`: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"{path}: {problems}") from None


def _ordered(names: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(names))


def load_taxonomy(config: TouchpointsConfig | None = None) -> Taxonomy:
    """Merge the taxonomy file with the config's rules and check the funnel names."""
    config = config or TouchpointsConfig()
    path = config.taxonomy or DEFAULT_TAXONOMY
    base = TaxonomyFile() if config.inline else _read_file(path)
    rules = (*config.rules, *base.rules)
    funnel = config.funnel or base.funnel
    known = _ordered([*base.touchpoints, *config.touchpoints, *(r.touchpoint for r in rules)])
    for stage in funnel:
        if stage not in known or stage == OTHER:
            allowed = ", ".join(name for name in known if name != OTHER)
            raise ConfigError(
                f"touchpoints.funnel: unknown funnel touchpoint `{stage}`{did_you_mean(stage, known)}; "
                f"it must be produced by a rule or listed in `touchpoints` (known: {allowed})"
            )
    if len(set(funnel)) != len(funnel):
        raise ConfigError(f"touchpoints.funnel: a stage is listed twice in {funnel}")
    order = _ordered([*funnel, *(name for name in known if name != OTHER), OTHER])
    source = "inline" if config.inline else str(path)
    return Taxonomy(touchpoints=tuple(order), funnel=tuple(funnel), rules=rules, source=source)
