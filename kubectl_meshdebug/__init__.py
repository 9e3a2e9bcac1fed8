"""kubectl-meshdebug: Istio sidecar debugging in one command."""

__version__ = "0.1.0"
