"""HTTP: the REST API, the webhook receivers and health checks. Writes to the outbox, never calls providers."""
