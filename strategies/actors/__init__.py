"""Actors: components that compute and publish data for strategies (no orders)."""
