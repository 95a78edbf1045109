"""risk-manager: a real-time risk manager for ProjectX Gateway (TopstepX) futures accounts."""

__version__ = "0.1.0"
