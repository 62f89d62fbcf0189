"""One error type for everything a user can get wrong; the CLI turns it into one line and exit code 2."""

from __future__ import annotations


class NeurosimError(Exception):
    """A user-facing error: bad input, a missing file or package, an impossible request.

    The message is one line that names the file, field and allowed values where they apply.
    """

    exit_code = 2


class ModelPackageMissing(NeurosimError):
    """A real-model package (or lava-nc) is not installed; the message says how to install it."""


class DoesNotFit(NeurosimError):
    """A mapping that does not fit the hardware: the model needs more cores than the system has, or a layer fits no
    core (weight bits, fan-in, fan-out or memory beyond the core's limits). A sweep point that raises it is a
    finished point with status 'infeasible'; any other error is a failed point."""


class Interrupted(KeyboardInterrupt):
    """SIGTERM (or SIGINT) while a command runs: unwinds like Ctrl-C, so writers clean up their temporary files;
    the CLI exits with 128 + ``signum``."""

    def __init__(self, signum: int):
        super().__init__(f"signal {signum}")
        self.signum = int(signum)


def missing_extra(what: str, extra: str) -> ModelPackageMissing:
    """The one-line error for an optional extra that is not installed, with its install command."""
    return ModelPackageMissing(f"{what} needs the '{extra}' extra: pip install 'neurosim[{extra}]'")


def field_error(where: str, field: str, value: object, allowed: str) -> NeurosimError:
    """The standard message for a field with a bad value."""
    return NeurosimError(f"{where}: field '{field}' = {value!r} is not allowed; allowed: {allowed}")


def in_file(where: str, exc: NeurosimError) -> NeurosimError:
    """``exc`` with ``where`` (a file, and the field) in front, unless its message names it already; the same
    class, so a :class:`DoesNotFit` stays one."""
    msg = str(exc)
    if where in msg:
        return exc
    return type(exc)(f"{where}: {msg}")
