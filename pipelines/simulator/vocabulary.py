"""The journey vocabulary the simulator speaks: touchpoints, pages, events, click targets.

It is the one shared with the default taxonomy (`features/data/taxonomy.toml`): every page below maps
to its touchpoint by URL, so a world processes with no custom rules. Everything is a tuple of
names plus numpy lookup tables indexed by code, so the generator never handles strings per event.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = [
    "CATEGORIES",
    "CHANNELS",
    "CUSTOMER_TYPES",
    "EVENTS",
    "LABEL_EVENTS",
    "PAGES",
    "PAGE_TOUCHPOINT",
    "PLATFORMS",
    "TARGETS",
    "TOUCHPOINTS",
]

# Funnel order first, then off-funnel; the simulator never emits an unmatched (`other`) page.
TOUCHPOINTS: tuple[str, ...] = (
    "home",
    "search",
    "catalog",
    "product",
    "cart",
    "shipping",
    "payment",
    "confirmation",
    "account",
    "help",
    "other",
)
HOME, SEARCH, CATALOG, PRODUCT, CART, SHIPPING, PAYMENT, CONFIRMATION, ACCOUNT, HELP, OTHER = range(11)
N_TOUCHPOINTS = len(TOUCHPOINTS)

EVENTS: tuple[str, ...] = (
    "page_view",
    "click",
    "search",
    "add_to_cart",
    "submit",
    "error",
    "purchase",
    "support_chat",
    "complaint",
)
PAGE_VIEW, CLICK, SEARCH_EVENT, ADD_TO_CART, SUBMIT, ERROR, PURCHASE, SUPPORT_CHAT, COMPLAINT = range(9)
LABEL_EVENTS: tuple[str, ...] = ("support_chat", "complaint")

PLATFORMS: tuple[str, ...] = ("web", "ios", "android")
ANDROID = 2
CHANNELS: tuple[str, ...] = ("organic", "paid", "email", "direct")
CUSTOMER_TYPES: tuple[str, ...] = ("new", "returning")

# --- pages: fixed ones, then blocks of categories, search terms and products -------------------
CATEGORIES: tuple[str, ...] = (
    "shoes",
    "bags",
    "dresses",
    "jackets",
    "jeans",
    "shirts",
    "accessories",
    "sportswear",
    "kids",
    "home-decor",
)
SEARCH_TERMS: tuple[str, ...] = (
    "sneakers",
    "red+dress",
    "leather+bag",
    "rain+jacket",
    "slim+jeans",
    "linen+shirt",
    "sunglasses",
    "running+shoes",
    "winter+coat",
    "wool+scarf",
    "backpack",
    "swimsuit",
)
# Misspelt or out-of-range queries: the ones that return nothing.
TYPO_TERMS: tuple[str, ...] = ("snekers", "jakcet", "lether+bag", "sunglases", "bakcpack", "gift+card+xl")
N_PRODUCTS = 400

FIXED_PAGES: tuple[str, ...] = (
    "/",
    "/cart",
    "/checkout/shipping",
    "/checkout/payment",
    "/checkout/confirmation",
    "/account",
    "/account/orders",
    "/help/faq",
    "/help/returns",
    "/help/contact",
    "/help/complaint",
)
(
    P_HOME,
    P_CART,
    P_SHIPPING,
    P_PAYMENT,
    P_CONFIRMATION,
    P_ACCOUNT,
    P_ACCOUNT_ORDERS,
    P_HELP_FAQ,
    P_HELP_RETURNS,
    P_HELP_CONTACT,
    P_HELP_COMPLAINT,
) = range(len(FIXED_PAGES))
P_CATEGORY0 = len(FIXED_PAGES)
P_TERM0 = P_CATEGORY0 + len(CATEGORIES)
P_TYPO0 = P_TERM0 + len(SEARCH_TERMS)
P_PRODUCT0 = P_TYPO0 + len(TYPO_TERMS)
PAGES: tuple[str, ...] = (
    *FIXED_PAGES,
    *(f"/c/{c}" for c in CATEGORIES),
    *(f"/search?q={t}" for t in SEARCH_TERMS),
    *(f"/search?q={t}" for t in TYPO_TERMS),
    *(f"/p/{10000 + i}" for i in range(N_PRODUCTS)),
)

# --- click targets per touchpoint: three ordinary ones, then the one that ignores the user
# (rage clicks), the one that looks clickable but is not (dead clicks) and the one users
# click repeatedly on purpose (slow triple / double clicks: look-alikes, not friction).
_TARGETS_BY_TOUCHPOINT: dict[str, tuple[str, str, str, str, str, str]] = {
    "home": ("nav_menu", "search_box", "category_tile", "hero_cta", "hero_banner", "carousel_next"),
    "search": (
        "result_item",
        "filter_toggle",
        "sort_dropdown",
        "search_button",
        "result_thumbnail",
        "load_more",
    ),
    "catalog": (
        "product_tile",
        "filter_toggle",
        "next_page",
        "apply_filters",
        "category_banner",
        "scroll_arrow",
    ),
    "product": (
        "size_selector",
        "image_gallery",
        "reviews_tab",
        "add_to_cart_button",
        "product_image",
        "qty_plus",
    ),
    "cart": ("checkout_button", "promo_code", "remove_item", "update_qty", "cart_item_image", "qty_plus"),
    "shipping": (
        "address_field",
        "shipping_option",
        "continue_button",
        "use_saved_address",
        "delivery_info",
        "postcode_lookup",
    ),
    "payment": (
        "card_number",
        "billing_toggle",
        "back_to_shipping",
        "pay_button",
        "secure_badge",
        "card_expiry",
    ),
    "confirmation": (
        "order_details",
        "continue_shopping",
        "share_order",
        "track_order",
        "order_summary",
        "print_receipt",
    ),
    "account": ("orders_tab", "profile_tab", "addresses_tab", "save_profile", "avatar", "order_row"),
    "help": ("faq_item", "search_help", "contact_link", "faq_expand", "help_banner", "faq_item_next"),
    "other": ("nav_menu", "search_box", "category_tile", "hero_cta", "hero_banner", "carousel_next"),
}
ERROR_TARGETS: tuple[str, ...] = (
    "payment_declined",
    "payment_unavailable",
    "address_invalid",
    "server_error",
)
TARGETS: tuple[str, ...] = tuple(
    dict.fromkeys([*(t for row in _TARGETS_BY_TOUCHPOINT.values() for t in row), *ERROR_TARGETS])
)
_CODE = {name: i for i, name in enumerate(TARGETS)}
T_PAYMENT_DECLINED, T_PAYMENT_UNAVAILABLE, T_ADDRESS_INVALID, T_SERVER_ERROR = (
    _CODE[t] for t in ERROR_TARGETS
)


def _column(j: int) -> npt.NDArray[np.int16]:
    return np.array([_CODE[_TARGETS_BY_TOUCHPOINT[tp][j]] for tp in TOUCHPOINTS], dtype=np.int16)


# [touchpoint, k] -> target code of the k-th ordinary target.
NORMAL_TARGETS: npt.NDArray[np.int16] = np.stack([_column(j) for j in range(3)], axis=1)
N_NORMAL_TARGETS = NORMAL_TARGETS.shape[1]
RAGE_TARGET, DEAD_TARGET, LOOKALIKE_TARGET = _column(3), _column(4), _column(5)

# A fixed screen layout (1280 x 800): each target sits at its own spot.
_index = np.arange(len(TARGETS))
TARGET_X: npt.NDArray[np.float64] = (80 + (_index * 373) % 1120).astype(np.float64)
TARGET_Y: npt.NDArray[np.float64] = (60 + (_index * 211) % 680).astype(np.float64)

# [page code] -> touchpoint code, as the default taxonomy maps each page.
PAGE_TOUCHPOINT: npt.NDArray[np.int8] = np.array(
    [
        *(HOME, CART, SHIPPING, PAYMENT, CONFIRMATION, ACCOUNT, ACCOUNT, HELP, HELP, HELP, HELP),
        *(CATALOG,) * len(CATEGORIES),
        *(SEARCH,) * (len(SEARCH_TERMS) + len(TYPO_TERMS)),
        *(PRODUCT,) * N_PRODUCTS,
    ],
    dtype=np.int8,
)
