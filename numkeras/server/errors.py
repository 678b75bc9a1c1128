"""``ApiError``: an error with an HTTP status and a message a person can act on.

Raised by routers and by the engine-side calls (it pickles across the process boundary).
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error answered as ``{"error": code, "message": ..., "argument": ...}``.

    Args:
        status_code: The HTTP status.
        message: What is wrong, naming the argument and the bad value.
        argument: The request argument at fault, if one is.
        details: More fields of the error body (e.g. ``expected_offset``).
        headers: Response headers (e.g. ``Retry-After``).
    """

    def __init__(self, status_code: int, message: str, argument: str | None = None,
                 details: dict[str, Any] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(status_code, message, argument, details, headers)
        self.status_code = status_code
        self.message = message
        self.argument = argument
        self.details = details
        self.headers = headers

    def __str__(self) -> str:
        return self.message


def not_found(kind: str, ident: str) -> ApiError:
    return ApiError(404, f"No {kind} with id {ident!r} (for this API key).")
