"""The local WebSocket API (spec/daemon.md §9): transport, admin desk, the daemon's answers, payload shapes."""
