"""No log line carries an API key, a codec token or a bearer credential (audit item 12)."""

from __future__ import annotations

import io
import json
import logging

import pytest

from core.logging import configure_logging
from core.settings import Settings

KEY = "ask_Zx9-Qw_8Lm3Np5Rt7Vb1Cd4Fg6Hj2Kl0Mn8Pq4Ss"
TOKEN = "acs_IDspGyBdjovqDmfmHvSk_mmAcTGyJoQiGZzUcdQyTaU"


@pytest.mark.parametrize("json_lines", [True, False])
def test_log_lines_never_carry_a_key_a_codec_token_or_a_bearer_credential(
    json_lines: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        configure_logging(Settings(log_json=json_lines, log_level="INFO"))
        # What uvicorn's access log writes for a URL (with its arguments), and what code might log.
        access = logging.getLogger("tests.access")  # uvicorn.access propagates to root under `python -m api`
        access.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "POST", f"/codec/k/{KEY}/decode", "1.1", 200)
        logging.getLogger("api").warning(
            "refused Authorization: Bearer %s and cookie aftersales_codec=%s", KEY, TOKEN
        )
        try:
            raise ValueError(f"bad key {KEY}")
        except ValueError:
            logging.getLogger("api").exception("lookup failed")
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    written = stream.getvalue()
    assert KEY not in written and TOKEN not in written and KEY[4:] not in written and TOKEN[4:] not in written
    assert (
        "/codec/k/ask_…/decode" in written and "Bearer …" in written and "aftersales_codec=acs_…" in written
    )
    if json_lines:
        assert all(json.loads(line)["logger"] for line in written.splitlines() if line.startswith("{"))
