"""The axis-compatible API (`/vxp`): the national axis's protocol served by the hub to agencies' software."""
