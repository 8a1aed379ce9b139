"""PERSIST: engine and sessions, ORM models, one module per aggregate. Store functions never commit."""
