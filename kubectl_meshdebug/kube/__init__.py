"""The only layer that talks to the API server (live) or reads manifests (offline)."""

from kubectl_meshdebug.kube import lazy_client

lazy_client.prepare()  # before anything here imports the kubernetes client
