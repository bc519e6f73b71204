"""Pure ASGI middleware, one per module: correlation ids, the request body limit."""
