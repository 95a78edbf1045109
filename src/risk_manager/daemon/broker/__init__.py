"""Broker connectivity: logins, hubs, protection states, reconciliation, contract metadata."""
