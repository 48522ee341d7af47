"""`python -m cli …`: the same as the installed `aftersales` command."""

from __future__ import annotations

from cli.main import run

if __name__ == "__main__":
    run()
