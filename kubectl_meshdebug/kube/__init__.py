"""The only layer that talks to the API server (live) or reads manifests (offline)."""
