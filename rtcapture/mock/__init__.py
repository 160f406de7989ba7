"""The mock Realtime server: scripted, deterministic, and able to play recordings back.

``serve_mock`` runs it in-process; ``rtcapture mock`` runs it from the command line.
"""

from .scenario import DEFAULT_SCENARIO, Scenario, ScenarioError, load_scenario, parse_scenario
from .server import MockServer, serve_mock

__all__ = [
    "DEFAULT_SCENARIO",
    "MockServer",
    "Scenario",
    "ScenarioError",
    "load_scenario",
    "parse_scenario",
    "serve_mock",
]
