"""Operations: what lets operators run the hub — maintenance mode, Prometheus metrics, alerts, and the
health, pausing and testing of connectors and their endpoints."""
