"""The domain: items, chain of custody, deadlines, devices, jobs, the object-store interface."""
