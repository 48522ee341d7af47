"""The embedded default's local state (`.local/`) is private to its user.

Everything in it is secret or personal: the codec and lookup keys, the dev API keys, the case store
and Temporal's database (customer data), the logs. Directories are 0700 and files 0600; the stack
runs under umask 077 so what it and its children create later is private too.
"""

from __future__ import annotations

import os
from pathlib import Path

from core.keyring import local_codec_keys, local_lookup_key
from core.settings import Settings

PRIVATE_UMASK = 0o077
DIR_MODE, FILE_MODE = 0o700, 0o600


def secure_local_dir(root: Path) -> list[Path]:
    """Make `root` and everything under it private (0700 / 0600); returns what had to change."""
    root.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    changed: list[Path] = []
    paths = [root, *root.rglob("*")]
    for path in paths:
        if path.is_symlink():
            continue  # never follow a link out of the directory
        wanted = DIR_MODE if path.is_dir() else FILE_MODE
        if path.stat().st_mode & 0o777 != wanted:
            path.chmod(wanted)
            changed.append(path)
    return changed


def prepare_local_state(settings: Settings) -> int:
    """Before the stack starts: umask 077 for this process and its children, `.local/` private, and
    the keys the processes share made once here (not raced by the API and the worker starting together).
    Returns the previous umask."""
    previous = os.umask(PRIVATE_UMASK)
    secure_local_dir(settings.local_dir)
    if not settings.codec_keys:
        local_codec_keys(settings.local_dir)
    if not settings.lookup_hash_key:
        local_lookup_key(settings.local_dir)
    return previous
