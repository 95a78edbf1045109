"""One module per rule: each a small plugin the engine runs."""
