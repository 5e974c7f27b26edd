"""The connector workers: the runtime that takes deliveries off the broker, and one module per way a
document leaves the hub (QLVB push, inbox, national axis)."""
