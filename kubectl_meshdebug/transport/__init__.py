"""How bytes reach a sidecar's Envoy admin port: exec, port-forward, direct URL, saved file."""

from kubectl_meshdebug.transport.base import AdminResponse, Transport

__all__ = ["AdminResponse", "Transport"]
