"""wahub: a self-hosted WhatsApp Business messaging hub."""

__version__ = "0.1.0"
