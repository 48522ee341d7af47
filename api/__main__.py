"""`python -m api`: serve the API with uvicorn on the configured host and port."""

from __future__ import annotations

import uvicorn

from core.logging import configure_logging
from core.settings import get_settings

if __name__ == "__main__":
    settings = get_settings()
    configure_logging(settings)
    uvicorn.run("api.main:app", host=settings.api_host, port=settings.api_port, log_config=None)
