"""`python -m simulator`: serve the provider simulator on the configured host and port."""

from __future__ import annotations

import logging

import uvicorn

from core.logging import configure_logging
from core.settings import get_settings
from simulator.app import app_from_settings

if __name__ == "__main__":
    settings = get_settings()
    configure_logging(settings)
    logging.getLogger("simulator").info(
        "provider simulator on %s:%s", settings.simulator_host, settings.simulator_port
    )
    uvicorn.run(
        app_from_settings(), host=settings.simulator_host, port=settings.simulator_port, log_config=None
    )
