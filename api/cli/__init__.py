"""The `aura` command: its commands, the terminal watch, the REST/SSE client of the service, exit codes."""
