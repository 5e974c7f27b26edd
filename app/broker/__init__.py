"""Handing delivery ids from the relay to the connector workers: RabbitMQ in production, an
in-process dispatcher on the embedded default. Both carry ids only, never document bytes, and give
the workers the same kind of message: acknowledge when done, requeue when the worker failed on it;
after too many requeues the message is dead-lettered."""
