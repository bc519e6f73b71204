"""Starting flow-run processes fast: the worker's warm parent and `aura-launch`, the deployments' command."""
