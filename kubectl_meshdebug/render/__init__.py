"""The only layer that prints: tables for people, JSON and YAML for programs."""
