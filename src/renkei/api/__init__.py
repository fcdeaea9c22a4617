"""The HTTP layer: the FastAPI app, its routes (``v1/``), auth, errors and hot-path middleware.

No business logic: routes call the same service functions as the CLI.
"""
