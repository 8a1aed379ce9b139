"""faketwilio: a fake of Twilio's Programmable Messaging API for WhatsApp, with signed form callbacks, simulated
contacts that reply, media behind basic auth and fault injection.

Imports nothing from wahub, so it cannot share wahub's bugs; its signatures are computed here from Twilio's
documented algorithm, not by the ``twilio`` package wahub checks them with.

    from faketwilio import FakeTwilioConfig, create_app
    app = create_app(FakeTwilioConfig(inbound_url="http://127.0.0.1:8000/webhooks/twilio", speed=20))
"""

from faketwilio.app import create_app
from faketwilio.config import FakeTwilioConfig, SimulatedContact

__all__ = ["FakeTwilioConfig", "SimulatedContact", "create_app"]
