"""An Antrea controller/agents stand-in: realizes policies, heartbeats, traceflow, stats."""
