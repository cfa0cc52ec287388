"""The `codeguard` command: one module per subcommand, all calling the same library functions as the plugin."""
from codeguard.cli.main import main

__all__ = ["main"]
