"""Delivery: the state of each recipient's copy, the outbox relay that hands due deliveries to the
broker, and the single place where a delivery's state changes."""
