"""The composition root: starts the servers a data directory configures (management, API, store member)."""
