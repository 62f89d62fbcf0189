"""One error type for everything a user can get wrong; the CLI turns it into one line and exit code 2."""

from __future__ import annotations


class NeurosimError(Exception):
    """A user-facing error: bad input, a missing file or package, an impossible request.

    The message is one line that names the file, field and allowed values where they apply.
    """

    exit_code = 2


class ModelPackageMissing(NeurosimError):
    """A real-model package (or lava-nc) is not installed; the message says how to install it."""


def field_error(where: str, field: str, value: object, allowed: str) -> NeurosimError:
    """The standard message for a field with a bad value."""
    return NeurosimError(f"{where}: field '{field}' = {value!r} is not allowed; allowed: {allowed}")
