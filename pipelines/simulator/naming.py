"""Event names for worlds without a page column: the name alone tells the touchpoint.

The generator speaks `vocabulary.EVENTS` at pages. Without pages, each (event, touchpoint)
pair gets a name of its own from a `Naming`:

    shop    the familiar names of a small shop's logs (view_product, add_payment_info,
            payment_error), which the world's own friction.toml maps rule by rule;
    alt     the same events in words Friction has never seen (product_view, basket_view,
            pay_now, thank_you, address_error, checkout_bug), to test drafting a taxonomy.

Errors are named by the touchpoint they happen at; an error page met anywhere else is
generic (`error_page`) and truly belongs to no touchpoint (`other`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import numpy.typing as npt
import pandas as pd

from pipelines.simulator.vocabulary import EVENTS, LABEL_EVENTS, N_TOUCHPOINTS, TOUCHPOINTS

__all__ = ["ALT", "NAMINGS", "SHOP", "Naming"]

_FIXED_EVENTS = ("search", "add_to_cart", "purchase", "support_chat", "complaint")
# Where each fixed event happens in a simulated world.
_FIXED_TOUCHPOINT = MappingProxyType(
    {
        "search": "search",
        "add_to_cart": "product",
        "purchase": "confirmation",
        "support_chat": "help",
        "complaint": "help",
    }
)


@dataclass(frozen=True)
class Naming:
    """Names per touchpoint for views, clicks, submits and errors; one name per fixed event."""

    name: str
    view: Mapping[str, str]
    click: Mapping[str, str]
    submit: Mapping[str, str]  # shipping, payment
    error: Mapping[str, str]  # by touchpoint; OTHER names the generic error page
    fixed: Mapping[str, str]  # search, add_to_cart, purchase, support_chat, complaint

    def table(self, clicks: bool = True) -> tuple[npt.NDArray[np.int16], tuple[str, ...]]:
        """[event code, touchpoint code] -> code into the returned names (-1: never emitted)."""
        codes = np.full((len(EVENTS), N_TOUCHPOINTS), -1, np.int16)
        names: dict[str, int] = {}
        for event, touchpoint, name in self._pairs(clicks):
            code = names.setdefault(name, len(names))
            codes[EVENTS.index(event), TOUCHPOINTS.index(touchpoint)] = code
        return codes, tuple(names)

    def _pairs(self, clicks: bool = True) -> list[tuple[str, str, str]]:
        """(event, touchpoint, name) for every pair a world can emit (`clicks`: if it logs clicks)."""
        generic = self.error["other"]
        return [
            *(("page_view", tp, self.view[tp]) for tp in TOUCHPOINTS[:-1]),
            *(("click", tp, self.click[tp]) for tp in TOUCHPOINTS[:-1] if clicks),
            *(("submit", tp, name) for tp, name in self.submit.items()),
            *(("error", tp, self.error.get(tp, generic)) for tp in TOUCHPOINTS[:-1]),
            *((event, _FIXED_TOUCHPOINT[event], self.fixed[event]) for event in _FIXED_EVENTS),
        ]

    def label_events(self) -> list[str]:
        return [self.fixed[event] for event in LABEL_EVENTS]

    def truth(self, clicks: bool = True) -> pd.DataFrame:
        """One row per name: the touchpoint it truly belongs to, and whether it is an error or a label."""
        rows: dict[str, tuple[str, bool, bool]] = {}
        for event, touchpoint, name in self._pairs(clicks):
            generic = event == "error" and name == self.error["other"]
            rows[name] = ("other" if generic else touchpoint, event == "error", event in LABEL_EVENTS)
        return pd.DataFrame(
            [(name, *row) for name, row in rows.items()],
            columns=["event", "touchpoint", "is_error", "is_label"],
        )


SHOP = Naming(
    name="shop",
    view={tp: f"view_{tp}" for tp in TOUCHPOINTS[:-1]}
    | {"search": "view_search_results", "catalog": "view_category"},
    click={tp: f"click_{tp}" for tp in TOUCHPOINTS[:-1]},
    submit={"shipping": "add_shipping_info", "payment": "add_payment_info"},
    error={"shipping": "shipping_error", "payment": "payment_error", "other": "error_page"},
    fixed={name: name for name in _FIXED_EVENTS},
)
ALT = Naming(
    name="alt",
    view={
        "home": "home",
        "search": "search_results",
        "catalog": "catalog",
        "product": "product_view",
        "cart": "basket_view",
        "shipping": "delivery_address",
        "payment": "payment_details",
        "confirmation": "thank_you",
        "account": "my_account",
        "help": "faq",
    },
    click={
        "home": "home_tap",
        "search": "results_tap",
        "catalog": "category_tap",
        "product": "item_tap",
        "cart": "basket_tap",
        "shipping": "delivery_tap",
        "payment": "card_tap",
        "confirmation": "thank_you_tap",
        "account": "signin_tap",
        "help": "help_tap",
    },
    submit={"shipping": "confirm_address", "payment": "pay_now"},
    error={
        "cart": "checkout_bug",
        "shipping": "address_error",
        "payment": "payment_error",
        "other": "error_page",
    },
    fixed={
        "search": "find",
        "add_to_cart": "add_to_basket",
        "purchase": "order_complete",
        "support_chat": "contact_support",
        "complaint": "file_complaint",
    },
)
NAMINGS = MappingProxyType({n.name: n for n in (SHOP, ALT)})
