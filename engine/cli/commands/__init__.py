"""CLI commands, one module each (see engine.cli.COMMAND_MODULES)."""
