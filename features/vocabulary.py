"""The words `friction init` knows: synonyms of each touchpoint, of errors, labels and signals.

Matched on the words of a name or URL path (features/tokens.py), and on neighbouring
pairs written as one (`sign_in` -> `signin`, `thank_you` -> `thankyou`). When a name holds
words of several touchpoints, the one listed first in `TOUCHPOINT_WORDS` wins: help and
account pages name their section first (`/help/payment`), and deeper funnel steps are more
specific than shallower ones (`/checkout/payment` is payment, `cart_item` is cart).
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "ERROR_WORDS",
    "GENERIC_WORDS",
    "LABEL_WORDS",
    "SIGNAL_WORDS",
    "TOUCHPOINT_WORDS",
    "touchpoint_of",
]

# The default taxonomy's touchpoints (features/data/taxonomy.toml), in the order that breaks ties.
TOUCHPOINT_WORDS: dict[str, frozenset[str]] = {
    "help": frozenset(
        {"help", "faq", "faqs", "contact", "contactus", "support", "helpdesk", "returns", "assistance"}
    ),
    "account": frozenset(
        {
            "account",
            "myaccount",
            "login",
            "logon",
            "signin",
            "logout",
            "signout",
            "signup",
            "register",
            "registration",
            "profile",
            "password",
            "orders",
            "wishlist",
        }
    ),
    "confirmation": frozenset(
        {
            "confirmation",
            "confirmed",
            "ordercomplete",
            "ordercompleted",
            "orderconfirmed",
            "thankyou",
            "thanks",
            "purchase",
            "purchased",
            "receipt",
            "success",
            "complete",
            "completed",
        }
    ),
    "payment": frozenset({"pay", "payment", "payments", "billing", "card", "creditcard", "paypal", "iban"}),
    "shipping": frozenset({"shipping", "delivery", "address", "shipment", "ship", "deliver"}),
    "cart": frozenset({"cart", "basket", "bag", "checkout", "trolley", "addtocart", "addtobag"}),
    "search": frozenset({"search", "searches", "find", "query", "lookup", "searchresults"}),
    "catalog": frozenset(
        {
            "catalog",
            "catalogue",
            "category",
            "categories",
            "list",
            "listing",
            "collection",
            "collections",
            "browse",
            "plp",
            "department",
            "shop",
            "c",
        }
    ),
    "product": frozenset({"product", "products", "item", "items", "pdp", "sku", "article", "p"}),
    "home": frozenset({"home", "homepage", "landing", "index", "welcome", "frontpage"}),
}

ERROR_WORDS = frozenset(
    {
        "error",
        "errors",
        "err",
        "fail",
        "failed",
        "failure",
        "exception",
        "bug",
        "crash",
        "decline",
        "declined",
        "timeout",
        "timedout",
        "invalid",
        "denied",
        "broken",
        "404",
        "500",
        "502",
        "503",
        "504",
    }
)

# Candidates for "dissatisfied": contacts, complaints, refunds, cancellations, bad feedback.
LABEL_WORDS = frozenset(
    {
        "support",
        "chat",
        "livechat",
        "complaint",
        "complain",
        "complaints",
        "refund",
        "refunds",
        "cancel",
        "cancellation",
        "unsubscribe",
        "thumbsdown",
        "dislike",
        "churn",
    }
)

# The event kinds of [signals] (features/signals.py EVENT_KINDS) and the words that name them.
# A name is of one kind only, the first listed: `search_result_click` is a click, not a search.
SIGNAL_WORDS: dict[str, frozenset[str]] = {
    "click": frozenset({"click", "clicked", "tap", "tapped", "press", "pressed"}),
    "submit": frozenset({"submit", "submitted", "send", "sent"}),
    "search": frozenset({"search", "searched", "query", "find", "searchresults"}),
    "page_view": frozenset({"pageview", "screenview", "view", "viewed", "visit"}),
}

# Words that say what happened, not where: a name made only of them gets no touchpoint of its own.
GENERIC_WORDS = frozenset(
    {
        "click",
        "tap",
        "scroll",
        "view",
        "views",
        "viewed",
        "page",
        "pageview",
        "screen",
        "screenview",
        "event",
        "session",
        "start",
        "end",
        "engagement",
        "user",
        "visit",
        "first",
        "ping",
        "heartbeat",
        "submit",
        "form",
        "impression",
        "load",
        "open",
        "close",
        "app",
        "track",
        "identify",
        "hover",
        "focus",
        "blur",
        "input",
        "change",
        "select",
    }
)


def touchpoint_of(words: Iterable[str]) -> tuple[str, str] | None:
    """The touchpoint these words name and the word that decided it, or None."""
    present = set(words)
    for touchpoint, synonyms in TOUCHPOINT_WORDS.items():
        hits = sorted(present & synonyms)
        if hits:
            return touchpoint, hits[0]
    return None
