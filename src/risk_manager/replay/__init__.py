"""Replay recorded sessions through the engine (``risk-manager replay``)."""

from risk_manager.replay.runner import Replayer, ReplayInputError, replay_events

__all__ = ["ReplayInputError", "Replayer", "replay_events"]
