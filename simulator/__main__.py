"""`python -m simulator`: serve the provider simulator on the configured host and port."""

from __future__ import annotations

import logging

import uvicorn

from core.logging import configure_logging
from core.settings import get_settings
from simulator.app import app_from_settings


def main() -> None:
    settings = get_settings()
    configure_logging(settings)
    app = app_from_settings()
    logging.getLogger("simulator").info(
        "provider simulator on http://%s:%s (ledger %s, faults %s)",
        settings.simulator_host,
        settings.simulator_port,
        app.state.ledger.path,
        app.state.faults.config.model_dump(exclude_none=True),
    )
    # log_config=None: keep our JSON logging instead of uvicorn's own configuration.
    uvicorn.run(app, host=settings.simulator_host, port=settings.simulator_port, log_config=None)


if __name__ == "__main__":
    main()
