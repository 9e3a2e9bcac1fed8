"""One Envoy, no Kubernetes: the admin client and parsers for what its admin API returns."""
