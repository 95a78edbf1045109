"""``risk-manager demo``: simulator + daemon + a live console view, no broker account needed."""
