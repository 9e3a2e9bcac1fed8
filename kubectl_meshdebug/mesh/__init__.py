"""Istio semantics: name grammar, host resolution, DR/VS selection, protocols, correlation."""
