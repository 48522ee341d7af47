"""`make run` keeps secrets out of process arguments, URLs and world-readable files (audit items 12, 14)."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

from core.keyring import key_ring
from core.settings import Settings
from devstack.__main__ import WORKER_WITHOUT_OUTBOX_RELAY, codec_endpoint, dev_server_args, outbox_relay_env
from devstack.local_state import prepare_local_state


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_dev_server_command_line_and_its_ui_codec_endpoint_carry_no_secret(tmp_path: Path) -> None:
    settings = Settings(local_dir=tmp_path, api_host="127.0.0.1", api_port=8000)
    keys = {"ops": "ask_" + "o" * 43, "system": "ask_" + "s" * 43}
    (tmp_path / "dev-api-keys.json").write_text(json.dumps(keys))
    args = dev_server_args(settings, "temporal")
    # What the UI publishes at /api/v1/settings is this argument, as is.
    assert (
        args[args.index("--ui-codec-endpoint") + 1]
        == codec_endpoint(settings)
        == "http://127.0.0.1:8000/codec"
    )
    command_line = " ".join(args)
    secrets = [*keys.values(), *(base64.b64encode(k).decode() for k in key_ring(settings).keys.values())]
    assert not [s for s in secrets if s in command_line] and "ask_" not in command_line


def test_local_state_is_private_to_its_user(tmp_path: Path) -> None:
    local = tmp_path / ".local"
    (local / "logs").mkdir(parents=True)
    made_by_an_older_version = [local / "cases.db", local / "temporal.db", local / "logs" / "api.log",
                                local / "dev-api-keys.json", local / "codec-keys"]  # fmt: skip
    for path in made_by_an_older_version:
        path.write_text("local-1:" + "A" * 43 + "=" if path.name == "codec-keys" else "x")
        path.chmod(0o644)
    for folder in (local, local / "logs"):
        folder.chmod(0o755)
    previous = prepare_local_state(Settings(local_dir=local))
    try:
        later = local / "logs" / "worker.log"
        later.write_text("written after start")  # by the stack or a child, under its umask
        (local / "cache").mkdir()
    finally:
        os.umask(previous)
    files = [*made_by_an_older_version, later, local / "lookup-hash-key"]
    assert {path.name: mode(path) for path in files} == {path.name: 0o600 for path in files}
    assert {mode(folder) for folder in (local, local / "logs", local / "cache")} == {0o700}


def test_make_runs_outbox_relay_runs_beside_the_worker_with_its_metrics_on_the_next_port() -> None:
    worker = Settings.model_validate(
        {k.removeprefix("AFTERSALES_").lower(): v for k, v in WORKER_WITHOUT_OUTBOX_RELAY.items()}
    )
    assert worker.outbox_relay_in_worker is False
    assert outbox_relay_env(Settings(worker_metrics_port=9464)) == {"AFTERSALES_WORKER_METRICS_PORT": "9465"}
    assert outbox_relay_env(Settings(worker_metrics_port=0)) == {"AFTERSALES_WORKER_METRICS_PORT": "0"}
    assert outbox_relay_env(Settings(worker_metrics_port=65535)) == {"AFTERSALES_WORKER_METRICS_PORT": "0"}
