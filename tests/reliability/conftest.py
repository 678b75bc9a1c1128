"""The reliability suite runs against its own real server (tests/server/conftest.py helpers)."""

from tests.server.conftest import api, other_api, server  # noqa: F401  (fixtures)
