"""The daemon: wires the engine to the broker, the store, the local API and the notifier (``app.py``)."""
