"""The -o values, kept apart so that parsing flags imports nothing else."""

OUTPUTS = ("table", "wide", "json", "yaml", "prometheus", "raw", "dot", "mermaid")
