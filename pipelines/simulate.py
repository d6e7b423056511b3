"""The journey simulator's public entry points (the code lives in `pipelines/simulator/`)."""

from pipelines.simulator import INCIDENT, World, simulate, write_world

__all__ = ["INCIDENT", "World", "simulate", "write_world"]
