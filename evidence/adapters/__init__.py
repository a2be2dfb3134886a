"""Adapters: the concrete things the domain speaks to through an interface.

``filestore`` and ``s3store`` implement ``evidence.objectstore.ObjectStore``; ``database`` makes
engines and sessions and runs migrations. Domain modules never import these; the wiring in
``storage_config`` and the composition root (``cli``) choose and build them.
"""
