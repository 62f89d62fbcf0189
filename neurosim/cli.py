"""The ``neurosim`` command line.

Each command lives in its own module under ``neurosim/commands/`` and exposes ``register(app)``; this file only
collects them and turns :class:`NeurosimError` into one line on stderr and exit code 2 (no traceback).
Command modules import heavy libraries inside the command functions, so ``neurosim --help`` stays fast.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

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


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    try:
        app(args=argv, prog_name="neurosim", standalone_mode=True)
    except SystemExit as exc:
        code = exc.code
        return int(code) if isinstance(code, int) else (0 if code is None else 1)
    except NeurosimError as exc:
        typer.echo(f"error: {exc}", err=True)
        return exc.exit_code
    except KeyboardInterrupt:
        typer.echo("interrupted: no output file was left half-written", err=True)
        return 130
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


def run() -> None:
    """Console-script wrapper: exit with :func:`main`'s code."""
    sys.exit(main())
