"""The journey simulator's public entry points (the code lives in `pipelines/simulator/`)."""

from pipelines.simulator import (
    INCIDENT,
    PROFILES,
    VOCABULARIES,
    World,
    check_world_names,
    profile_named,
    simulate,
    write_world,
)

__all__ = [
    "INCIDENT",
    "PROFILES",
    "VOCABULARIES",
    "World",
    "check_world_names",
    "profile_named",
    "simulate",
    "write_world",
]
