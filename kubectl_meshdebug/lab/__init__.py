"""A small mesh on loopback: real Envoy sidecars with Istio-shaped config and real apps.

Used by the end-to-end tests and by `kubectl meshdebug demo`. Each simulated pod gets its
own loopback address (127.0.N.x) with its admin API on that address's port 15000.
"""
