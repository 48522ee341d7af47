"""`python -m api`: serve the API with uvicorn on the configured host and port, in
`AFTERSALES_API_WORKERS` processes (uvicorn's supervisor restarts a worker that dies)."""

from __future__ import annotations

import uvicorn

from core.logging import configure_logging
from core.settings import get_settings

if __name__ == "__main__":
    settings = get_settings()
    configure_logging(settings)
    uvicorn.run(
        "api.main:app",
        host=settings.api_host,
        port=settings.api_port,
        workers=settings.api_workers,
        log_config=None,
    )
