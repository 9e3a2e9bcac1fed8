"""The check catalogue: one module per check, a registry, the audit and why-503 runners."""
