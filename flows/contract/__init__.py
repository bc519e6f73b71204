"""What the flows and the service agree on; the only part of `flows` that `api` imports (with `flows.settings`)."""
