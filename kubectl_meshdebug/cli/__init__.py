"""click commands: argument parsing and calling the layers; nothing else."""
