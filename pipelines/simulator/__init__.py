"""The journey simulator: an e-commerce clickstream with known ground truth.

Real clickstreams with dissatisfaction labels are private; this one lets a user try Friction
in minutes and lets the tests prove that models and explanations recover the truth.

    simulate(n_sessions, seed, profile="default", vocabulary="default") -> World(events, surveys, truth, ...)
    write_world(world, out_dir) -> {"events", "surveys", "truth", "world", "config": path}

Modules: vocabulary (names shared with the default taxonomy), profiles (which shop: default,
small-shop), sessions (users, sessions, the incident), steps (page visits and injected
friction), truth (the outcome model), events (visits -> timed events), naming (event names
that carry the touchpoint: shop, alt), world (simulate, write_world), world_config (its
friction.toml), segments (vectorized helpers).
"""

from pipelines.simulator.profiles import PROFILES, Profile, profile_named
from pipelines.simulator.sessions import INCIDENT, START, Incident
from pipelines.simulator.truth import BASE, CONTEXT_WEIGHTS, KINDS, PAYMENT_ERROR_WEIGHT, WEIGHTS
from pipelines.simulator.vocabulary import TOUCHPOINTS
from pipelines.simulator.world import (
    CONTEXT_COLUMNS,
    VOCABULARIES,
    World,
    check_world_names,
    simulate,
    write_world,
)

__all__ = [
    "BASE",
    "CONTEXT_COLUMNS",
    "CONTEXT_WEIGHTS",
    "INCIDENT",
    "KINDS",
    "PAYMENT_ERROR_WEIGHT",
    "PROFILES",
    "START",
    "TOUCHPOINTS",
    "VOCABULARIES",
    "WEIGHTS",
    "Incident",
    "Profile",
    "World",
    "check_world_names",
    "profile_named",
    "simulate",
    "write_world",
]
