"""The ``neurosim`` command line.

Each command lives in its own module under ``neurosim/commands/`` and exposes ``register(app)``; this file only
collects them and turns :class:`NeurosimError` into one line on stderr and exit code 2 (no traceback).
Command modules import heavy libraries inside the command functions, so ``neurosim --help`` stays fast.
"""

from __future__ import annotations

import importlib
import pkgutil
import signal
import sys
import threading

import typer

from neurosim.errors import NeurosimError

app = typer.Typer(
    name="neurosim",
    help="Neuromorphic hardware simulator and energy estimator for spiking language models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _register_commands() -> None:
    import neurosim.commands as pkg

    for mod in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        if mod.name.startswith("_"):
            continue
        module = importlib.import_module(f"neurosim.commands.{mod.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(app)


_register_commands()


def _command():
    """The click command behind ``app``, built once per process: typer rebuilds it from every command's signature
    on each call (a tenth of a second), which in-process callers (tests, the fuzzer) would pay every time."""
    global _COMMAND
    if _COMMAND is None:
        _COMMAND = typer.main.get_command(app)
    return _COMMAND


_COMMAND = None


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code. SIGTERM is handled like Ctrl-C while the command
    runs (a :class:`~neurosim.errors.Interrupted`), so every writer removes its temporary file and leaves the old
    output or the complete new one; the exit code is 128 + the signal's number (130 for SIGINT, 143 for SIGTERM)."""
    from neurosim.commands._vocabulary import rewrite  # old spellings, kept for one release

    argv = rewrite(list(sys.argv[1:] if argv is None else argv))
    with _terminate_as_interrupt():
        try:
            _command().main(args=argv, prog_name="neurosim", standalone_mode=True)
        except SystemExit as exc:
            stop = _interrupt_behind(exc)  # typer turns Ctrl-C (and our SIGTERM) into exit 130 without a word
            if stop is not None:
                typer.echo("interrupted: no output file was left half-written", err=True)
                return 128 + getattr(stop, "signum", signal.SIGINT)
            code = exc.code
            return int(code) if isinstance(code, int) else (0 if code is None else 1)
        except NeurosimError as exc:
            typer.echo(f"error: {one_line(str(exc))}", err=True)
            return exc.exit_code
        except KeyboardInterrupt as exc:
            typer.echo("interrupted: no output file was left half-written", err=True)
            return 128 + getattr(exc, "signum", signal.SIGINT)
    return 0


def one_line(text: str) -> str:
    """``text`` as one printable line: control characters, line and paragraph separators and invisible format
    characters that a user file put in a name (a newline, an ANSI escape, a right-to-left override) are shown
    escaped (``\\x1b``), so an error is one line and cannot rewrite the reader's terminal."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _interrupt_behind(exc: BaseException) -> KeyboardInterrupt | None:
    """The KeyboardInterrupt (or :class:`~neurosim.errors.Interrupted`) an exit was raised for, if any."""
    seen = 0
    while exc is not None and seen < 8:
        if isinstance(exc, KeyboardInterrupt):
            return exc
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return None


class _terminate_as_interrupt:
    """While the command runs in the main thread: SIGTERM raises :class:`~neurosim.errors.Interrupted` (a
    KeyboardInterrupt), as SIGINT does, instead of ending the process with no cleanup; the old handler comes back
    afterwards."""

    def __enter__(self):
        self.old = None
        if threading.current_thread() is threading.main_thread():
            self.old = signal.signal(signal.SIGTERM, _raise_interrupted)
        return self

    def __exit__(self, *exc) -> None:
        if self.old is not None:
            signal.signal(signal.SIGTERM, self.old)


def _raise_interrupted(signum, _frame) -> None:
    from neurosim.errors import Interrupted

    raise Interrupted(signum)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


def run() -> None:
    """Console-script wrapper: exit with :func:`main`'s code."""
    sys.exit(main())
