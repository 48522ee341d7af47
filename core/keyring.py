"""Key material from the settings: the codec key ring and the lookup-hash key.

The codec key ring encrypts Temporal payloads (core.codec) and wraps the data keys of personal data
at rest (the vault of store.configured). The lookup-hash key makes the keyed hash that finds cases by
phone. In the embedded default each is made once and kept 0600 in `local_dir`; deployments set both.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from core.codec import parse_keys
from core.settings import Settings

CODEC_KEYS_FILE = "codec-keys"
LOOKUP_KEY_FILE = "lookup-hash-key"


def ensure_private_file(path: Path, make: Callable[[], str]) -> str:
    """The file's text; made with `make()` first if missing, mode 0600, in a 0700 directory.

    Written to a temporary file and linked into place, so processes starting together never read a
    half-written key and agree on one winner.
    """
    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(make())
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process made it first: use theirs
        finally:
            tmp.unlink(missing_ok=True)
    return path.read_text().strip()


def _new_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def local_codec_keys(local_dir: Path) -> str:
    """The embedded default's codec key: made once, kept (0600) in local_dir, shared by every process."""
    return ensure_private_file(local_dir / CODEC_KEYS_FILE, lambda: f"local-1:{_new_key()}\n")


def local_lookup_key(local_dir: Path) -> str:
    return ensure_private_file(local_dir / LOOKUP_KEY_FILE, lambda: _new_key() + "\n")


@dataclass(frozen=True)
class KeyRing:
    keys: dict[str, bytes]
    current: str


def key_ring(settings: Settings) -> KeyRing:
    keys = parse_keys(settings.codec_keys or local_codec_keys(settings.local_dir))
    if not keys:
        raise ValueError("AFTERSALES_CODEC_KEYS names no key")
    return KeyRing(keys, settings.codec_current_key or list(keys)[-1])


def lookup_key(settings: Settings) -> bytes:
    encoded = settings.lookup_hash_key or local_lookup_key(settings.local_dir)
    try:
        key = base64.b64decode(encoded, validate=True)
    except binascii.Error as err:
        raise ValueError("AFTERSALES_LOOKUP_HASH_KEY must be base64") from err
    if len(key) < 32:
        raise ValueError("AFTERSALES_LOOKUP_HASH_KEY must be the base64 of at least 32 bytes")
    return key


CARRIER_SECRETS_FILE = "carrier-secrets"
SIM_CARRIER = "sim"


def carrier_secrets(settings: Settings) -> dict[str, str]:
    """Each carrier's webhook secret, from `AFTERSALES_CARRIER_SECRETS_FILE` (`carrier:secret` lines),
    or the embedded default's file for the simulator's carrier, made once (0600) in local_dir."""
    if settings.carrier_secrets_file:
        text = Path(settings.carrier_secrets_file).read_text()
    else:
        text = ensure_private_file(
            settings.local_dir / CARRIER_SECRETS_FILE, lambda: f"{SIM_CARRIER}:{secrets.token_hex(32)}\n"
        )
    found: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        carrier, sep, secret = line.partition(":")
        if not sep or not carrier.strip() or len(secret.strip()) < 16:
            raise ValueError("carrier secrets: each line is `carrier:secret` with a secret of 16+ characters")
        found[carrier.strip()] = secret.strip()
    return found
