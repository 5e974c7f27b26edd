"""The national document axis (VXP) protocol: signing, the hub's client, and a simulator for tests."""
