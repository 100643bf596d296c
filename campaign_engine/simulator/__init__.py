"""An in-process simulator of the Vocobase V2 API, for the demo, the tests and benchmarks.

The real API cannot be reached from here, so the simulator implements the documented
contract on its own (it shares no models with the engine's client) and adds knobs for the
limits and faults the engine has to survive.
"""

from campaign_engine.simulator.app import Simulator, create_app
from campaign_engine.simulator.knobs import SimAgent, SimConnection, SimulatorConfig

__all__ = ["SimAgent", "SimConnection", "Simulator", "SimulatorConfig", "create_app"]
