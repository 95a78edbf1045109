"""Platform-specific pieces (file locks, signals, service managers) behind small portable functions."""
