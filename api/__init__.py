"""The FastAPI service: routes, auth, web pages. Thin: it calls ``evidence``."""
