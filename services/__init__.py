"""Application services used by more than one front door (the API and the CLI)."""
