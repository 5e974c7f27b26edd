"""Indicator reports: what the hub carried, measured per agency and period against the province's
e-government targets, exported (JSON, CSV, XLSX) and sent as documents themselves."""
