"""Typed settings, storage and database URLs, bucket provisioning."""
