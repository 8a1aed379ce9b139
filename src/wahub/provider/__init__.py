"""OUT: clients for Meta's Graph API and Twilio. Only ``worker/`` calls them."""
