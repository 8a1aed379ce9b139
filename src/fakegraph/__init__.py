"""fakegraph: a faithful fake of Meta's WhatsApp Cloud API, with signed webhooks and fault injection.

Imports nothing from wahub, so it cannot share wahub's bugs.

    from fakegraph import FakeGraphConfig, SimulatedContact, create_app
    app = create_app(FakeGraphConfig(callback_url="http://127.0.0.1:8000/webhooks/meta", speed=20))
"""

from fakegraph.app import create_app
from fakegraph.config import FakeGraphConfig, SimulatedContact

__all__ = ["FakeGraphConfig", "SimulatedContact", "create_app"]
