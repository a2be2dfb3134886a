"""The composition root: the `evidence` command, the one place that may import both ingest and api."""
