"""The HTTP layer: the FastAPI app, its routes (``v1/``), auth, errors and hot-path middleware.

No business logic: routes parse, call the use case (``renkei.usecases``) the CLI and the
dashboard call too, and shape the answer.
"""
