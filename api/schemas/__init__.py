"""Every public model of the REST and SSE contract, camelCase on the wire, and the problem body."""
