"""IN: checking webhook signatures and parsing provider payloads into domain values."""
