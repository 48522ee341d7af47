"""Helpers shared by the tests: servers, databases, Temporal, case drivers."""
