"""The records auditors rely on: the exchange log and the admin log, both append-only."""
