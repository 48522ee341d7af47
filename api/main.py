"""ASGI entry point: `uvicorn api.main:app`. Each worker process imports this module on its own (a
spawned interpreter), so logging is configured here, not only by `python -m api`."""

from api.app import create_app
from core.logging import configure_logging
from core.settings import get_settings

configure_logging(get_settings())
app = create_app()
