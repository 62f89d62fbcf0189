"""One vocabulary for the command line: every flag has one meaning in every command that takes it.

* :data:`MEANINGS` is the reviewed table: a flag's meaning, the kind of value it takes, and words its help text
  says in every command (so a flag reused with another meaning fails ``tests/test_cli_vocabulary.py``). A new flag
  needs a row here.
* :data:`DEPRECATED`: old spellings that still work for one release; :func:`rewrite` turns them into the new ones
  before the command line is parsed, with a deprecation line on stderr. A few old uses depend on the value given
  (``report --hw <energy table>``, ``estimate --energy <hardware model>``, ``map`` without ``--hw``); the commands
  handle those and :data:`VALUE_DEPRECATIONS` lists them for the reference.
* ``python -m neurosim.commands._vocabulary [--write docs/cli.md]`` prints the reference, generated from the typer
  app: every command x every option, the meanings, the deprecated spellings and each command's options.

The rules, stated once (also at the top of docs/cli.md):

* ``--out FILE`` writes a file; ``--out-dir DIR`` writes a directory.
* ``--hw`` is a hardware model, ``--hw-set`` overrides one of its figures; ``--set`` overrides a workload field;
  ``--energy`` is an energy table.
* ``--seq`` is the sequence length, ``--tokens`` the tokens a run processes, ``--steps`` time steps.
* ``--format table|csv|json|md`` on every command that prints results: csv is one table whose last rows carry the
  totals where the rows add up (their first column is ``total``; ``total.<quantity>`` in ``hw show``'s figures);
  json is one document with the unit in each key (``energy_J``, ``latency_ns``) or beside the value.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class Meaning:
    """What a flag means wherever it appears."""

    text: str
    kind: str  # the value: text | int | float | switch (a flag without a value, or --x/--no-x)
    words: tuple[str, ...] = ()  # the help text of every use says one of these (case-insensitive)
    short: str | None = None  # its one-letter spelling, the same wherever it is given


FORMAT = ("table, csv, json or md",)
FILE = ("file",)

#: every flag of every command, with its one meaning (reviewed: add a row for a new flag)
MEANINGS: dict[str, Meaning] = {
    # --- shared vocabulary -----------------------------------------------------------------------------------------
    "--hw": Meaning("a hardware model: a built-in name (`neurosim hw list`) or a hardware .yaml", "text",
                    ("hardware",)),
    "--hw-set": Meaning("override a figure of the hardware model: --hw-set path=value", "text",
                        ("hardware", "figure")),
    "--set": Meaning("override a workload field: --set key=value", "text", ("workload field",)),
    "--energy": Meaning("an energy table: a built-in name or a .yaml", "text", ("energy table",), "-e"),
    "--seq": Meaning("the sequence length in tokens", "int", ("sequence length",)),
    "--batch": Meaning("sequences per pass (batch size)", "int", ("batch", "sequences per pass")),
    "--tokens": Meaning("tokens a run processes (the first N of the text when a text is read)", "int", ("token",)),
    "--steps": Meaning("time steps (of a spiking run, or per token)", "int", ("time step",), "-T"),
    "--context": Meaning("positions already in the KV cache before the simulated tokens", "int", ("cache", "cached")),
    "--out": Meaning("a file to write", "text", FILE, "-o"),
    "--out-dir": Meaning("a directory to write", "text", ("directory",)),
    "--format": Meaning("how results are printed: table, csv, json or md", "text", FORMAT, "-f"),
    "--convention": Meaning("what is counted: real (the model as it is; default) or paper", "text",
                            ("real", "paper")),
    "--text": Meaning("a UTF-8 text file to run on (default: the shipped public-domain text)", "text",
                      ("text",)),
    "--rates": Meaning("a measured rates file (`neurosim rates --save`)", "text", ("rates --save",)),
    "--mapping": Meaning("a saved mapping (`neurosim map --out`) or a user placement file", "text", ("mapping",)),
    "--strategy": Meaning("partition: output (multicast spikes) or input (fan-in split)", "text", ("output",)),
    "--placement": Meaning("placement: locality or serpentine", "text", ("locality",)),
    "--mode": Meaning("which engine times the run: analytic, statistical or exact", "text", ("statistical",)),
    "--seed": Meaning("seed of the random draws", "int", ("seed",)),
    "--sync": Meaning("a barrier per time step (--sync) or free-running cores (--async)", "switch", ("barrier",)),
    "--quiet": Meaning("no progress display", "switch", ("progress",), "-q"),
    "--force": Meaning("write into a directory that holds other files (they are kept)", "switch", ("directory",)),
    "--save-run": Meaning("also write the run record (JSON) to this file", "text", ("run record",)),
    "--weights": Meaning("which weights a run uses (a source or a format)", "text", ("weight",)),
    "--dt": Meaning("the time step in seconds", "float", ("time step",)),
    "--name": Meaning("the name given to what is written", "text", ("name",)),
    "--max-memory": Meaning("the most memory a run may take (8G, 512M; default: what the machine has)", "text",
                            ("memory",)),
    # --- one command's own flags -----------------------------------------------------------------------------------
    "--by": Meaning("rows per layer, block, role or kind", "text", ("layer",)),
    "--label": Meaning("a name for each run, in order", "text", ("name",)),
    "--baseline": Meaning("a conventional baseline HW[:PRECISION][@WORKLOAD]", "text", ("baseline",)),
    "--baseline-set": Meaning("override a figure of every baseline's hardware", "text", ("baseline",)),
    "--prompt": Meaning("also a prefill of this many tokens", "int", ("prefill",)),
    "--break-even": Meaning("solve the break-even firing rate", "switch", ("break-even",)),
    "--max-weights": Meaning("limit on placeholder weights", "int", ("weights",)),
    "--idle-w": Meaning("idle power in W", "float", ("idle",)),
    "--busy-w": Meaning("power under load in W", "float", ("load",)),
    "--repeat": Meaning("timings per quantity", "int", ("timings",)),
    "--quick": Meaning("small sizes (a smoke run)", "switch", ("small",)),
    "--rate": Meaning("the assumed firing rate of every spiking layer", "float", ("firing rate",)),
    "--input": Meaning("what the network's input is: fp or binary", "text", ("input",)),
    "--input-rate": Meaning("firing rate of binary input spikes", "float", ("firing rate",)),
    "--w-bits": Meaning("weight width in bits", "int", ("weight",)),
    "--quantize": Meaning("integer weights and thresholds for exact mode (a scale per spiking population)", "switch",
                          ("integer weights",)),
    "--layers": Meaning("layers to lower: names or globs", "text", ("layers",), "-l"),
    "--lif": Meaning("a parameter of the implicit LIF populations", "text", ("lif",)),
    "--graded": Meaning("inputs as graded spikes", "switch", ("graded",)),
    "--engines": Meaning("engines to compare", "text", ("engines",)),
    "--input-chunk": Meaning("fan-in chunk width of input-split", "int", ("fan-in",)),
    "--split-fan-in": Meaning("let output-split cut a large fan-in into chunks", "switch", ("fan-in",)),
    "--kv-cache": Meaning("where the KV cache lives", "text", ("kv cache",)),
    "--heatmap": Meaning("a mesh heatmap PNG file to write", "text", ("heatmap",)),
    "--setting": Meaning("a named encoder setting", "text", ("setting",)),
    "--fp-layer": Meaning("a layer kept in floating point", "text", ("fp",)),
    "--seeds": Meaning("randomized rotations per setting", "int", ("rotations",)),
    "--plot": Meaning("a folder to write the figures to", "text", ("folder",)),
    "--tolerance": Meaning("relative difference that flags a rate", "float", ("differs",)),
    "--save": Meaning("write the measured rates file", "text", ("file",)),
    "--measure-rates": Meaning("measure firing rates on real text", "switch", ("measure",)),
    "--block": Meaning("tokens per event bundle", "int", ("bundle",)),
    "--verify": Meaning("check the exact run against the functional engine", "switch", ("functional engine",)),
    "--spikes": Meaning("a recorded input spikes file (.npz)", "text", ("spikes",)),
    "--histogram": Meaning("a count histogram file (JSON)", "text", ("histogram",)),
    "--scheduler": Meaning("address of a running Dask scheduler", "text", ("dask",)),
    "--workers": Meaning("processes of the local cluster", "int", ("processes",)),
    "--timeout": Meaning("seconds to wait for the scheduler", "float", ("seconds",)),
    "--dry-run": Meaning("list the points; run nothing", "switch", ("run nothing",)),
}


@dataclass(frozen=True)
class Deprecation:
    """An old spelling of a command's flag, rewritten to the new one for one release."""

    command: str  # "report", "hw show"
    old: str
    new: str
    why: str


DEPRECATED: tuple[Deprecation, ...] = (
    Deprecation("simulate", "-n", "--tokens", "-n meant tokens here and time steps in lava-check"),
    Deprecation("lava-check", "-n", "--steps", "-n meant time steps here and tokens in simulate"),
    Deprecation("hw show", "--set", "--hw-set", "--set is for workload fields; hardware figures take --hw-set"),
    Deprecation("compare", "--out", "--out-dir", "--out names a file; compare writes a directory"),
    Deprecation("compare", "-o", "--out-dir", "-o is --out, a file; compare writes a directory"),
    Deprecation("report", "--out", "--out-dir", "--out names a file; report writes a directory"),
    Deprecation("report", "-o", "--out-dir", "-o is --out, a file; report writes a directory"),
    Deprecation("sweep", "--out", "--out-dir", "--out names a file; sweep writes a directory"),
    Deprecation("sweep", "-o", "--out-dir", "-o is --out, a file; sweep writes a directory"),
    Deprecation("reproduce", "--out", "--out-dir", "--out names a file; reproduce writes a directory"),
)

#: old uses that depend on the value given (each command checks its own and says so on stderr)
VALUE_DEPRECATIONS: tuple[tuple[str, str, str], ...] = (
    ("report", "--hw ENERGY_TABLE", "--energy ENERGY_TABLE (--hw is a hardware model)"),
    ("estimate", "--energy HARDWARE", "--hw HARDWARE (--energy is an energy table)"),
    ("map", "no --hw (loihi2 was assumed)", "--hw loihi2 (--hw is required, as in simulate and report)"),
)

DEPRECATION_NOTE = "the old spelling works until the next release"


def warn(old: str, new: str, command: str) -> None:
    """The one deprecation line on stderr for a renamed spelling."""
    deprecated(f"`neurosim {command} {old}` is now `{new}`")


def deprecated(what: str) -> None:
    """A deprecation line on stderr: what changed, and that the old use works for one more release."""
    print(f"deprecated: {what} ({DEPRECATION_NOTE})", file=sys.stderr)


def _command_of(argv: list[str]) -> tuple[str, int]:
    """(the command's name, the index of its first argument) in a command line; ("", 0) when there is none."""
    if not argv or argv[0].startswith("-"):
        return "", 0
    if argv[0] == "hw" and len(argv) > 1 and not argv[1].startswith("-"):
        return f"hw {argv[1]}", 2
    return argv[0], 1


def rewrite(argv: list[str]) -> list[str]:
    """The command line with every deprecated spelling replaced (a deprecation line on stderr for each)."""
    command, start = _command_of(argv)
    olds = {d.old: d for d in DEPRECATED if d.command == command}
    if not olds:
        return list(argv)
    out = list(argv[:start])
    for i, tok in enumerate(argv[start:], start):
        if tok == "--":  # everything after is an argument
            return out + list(argv[i:])
        new = _replace(tok, olds)
        if new != tok:
            d = olds[tok.split("=", 1)[0] if tok.startswith("--") else tok[:2]]
            warn(d.old, d.new, command)
        out.append(new)
    return out


def _replace(tok: str, olds: dict[str, Deprecation]) -> str:
    if tok.startswith("--"):
        flag, eq, value = tok.partition("=")
        return olds[flag].new + eq + value if flag in olds else tok
    if tok.startswith("-") and len(tok) >= 2 and tok[:2] in olds:  # -n 5 or -n5
        d = olds[tok[:2]]
        return d.new if len(tok) == 2 else f"{d.new}={tok[2:]}"
    return tok


# --- introspection and the reference ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Option:
    """One option of one command, as the typer app declares it."""

    command: str
    flag: str  # its long spelling
    short: str | None
    secondary: str | None  # --no-x / --async
    kind: str
    multiple: bool
    default: object
    required: bool
    help: str


def build_app():
    """The CLI's typer app, built as ``neurosim.cli`` builds it (every ``neurosim.commands`` module's ``register``),
    without importing ``neurosim.cli`` (which imports this module)."""
    import importlib
    import pkgutil

    import typer

    import neurosim.commands as pkg

    app = typer.Typer(name="neurosim", add_completion=False)
    for mod in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        if not mod.name.startswith("_"):
            register = getattr(importlib.import_module(f"neurosim.commands.{mod.name}"), "register", None)
            if register is not None:
                register(app)
    return app


def commands():
    """(name, click command) of every command of the CLI, subcommands as ``hw show``, sorted."""
    import typer

    root = typer.main.get_command(build_app())
    out = []

    def walk(cmd, prefix: list[str]) -> None:
        if hasattr(cmd, "commands"):
            for name, sub in sorted(cmd.commands.items()):
                walk(sub, prefix + [name])
        else:
            out.append((" ".join(prefix), cmd))

    walk(root, [])
    return out


def _kind(param) -> str:
    """The kind of value an option takes, from its annotation (a list's element; Path and str are text)."""
    import typing

    ann = param.type_descriptor.annotation
    if typing.get_origin(ann) in (list, tuple):
        ann = typing.get_args(ann)[0]
    if ann is bool or getattr(param, "is_flag", False):
        return "switch"
    return "int" if ann is int else "float" if ann is float else "text"


def options() -> list[Option]:
    """Every option of every command."""
    out = []
    for name, cmd in commands():
        for p in cmd.params:
            if p.param_type_name != "option" or p.name == "help":
                continue
            longs = [o for o in p.opts if o.startswith("--")]
            shorts = [o for o in p.opts if not o.startswith("--")]
            default = p.default if not callable(p.default) else None
            out.append(Option(name, longs[0] if longs else p.opts[0], shorts[0] if shorts else None,
                              p.secondary_opts[0] if p.secondary_opts else None, _kind(p), bool(p.multiple),
                              default, bool(p.required), " ".join((p.help or "").split())))
    return out


def arguments() -> dict[str, list[str]]:
    """Each command's positional arguments, by name."""
    return {name: [p.name.upper() for p in cmd.params if p.param_type_name == "argument"] for name, cmd in commands()}


def _md(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def reference() -> str:
    """docs/cli.md: the rules, every command x every option, the meanings, the deprecated spellings, each command."""
    opts = options()
    names = [n for n, _ in commands()]
    flags = sorted({o.flag for o in opts}, key=lambda f: (f not in ("--format", "--out", "--out-dir"), f))
    have = {(o.command, o.flag) for o in opts}
    doc = (__doc__ or "").split("The rules, stated once (also at the top of docs/cli.md):", 1)[1].strip()
    doc = doc.replace("``", "`")
    lines = [
        "# The neurosim command line",
        "",
        "Generated from the code by `python -m neurosim.commands._vocabulary --write docs/cli.md` (`make cli-docs`);",
        "do not edit by hand. `tests/test_cli_vocabulary.py` fails when this file is stale, when a flag is given a",
        "second meaning, or when a command's `--format json` output does not parse.",
        "",
        "## The rules",
        "",
        doc,
        "",
        "## Every command x every option",
        "",
        "| option | " + " | ".join(f"`{n}`" for n in names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for f in flags:
        lines.append(f"| `{f}` | " + " | ".join("x" if (n, f) in have else "" for n in names) + " |")
    lines += ["", "## What each option means (in every command that takes it)", "",
              "| option | short | value | meaning |", "|---|---|---|---|"]
    for f in flags:
        m = MEANINGS.get(f)
        lines.append(f"| `{f}` | {f'`{m.short}`' if m and m.short else ''} | {m.kind if m else '?'} | "
                     f"{_md(m.text) if m else '(no reviewed meaning)'} |")
    lines += ["", "## Old spellings (still accepted for one release, with a deprecation line on stderr)", "",
              "| command | old | new | why |", "|---|---|---|---|"]
    lines += [f"| `{d.command}` | `{d.old}` | `{d.new}` | {_md(d.why)} |" for d in DEPRECATED]
    lines += [f"| `{c}` | {_md(old)} | {_md(new)} | depends on the value given |" for c, old, new in VALUE_DEPRECATIONS]
    args = arguments()
    for n in names:
        lines += ["", f"## `neurosim {n}`" + "".join(f" {a}" for a in args[n]), "",
                  "| option | value | default | help |", "|---|---|---|---|"]
        for o in (o for o in opts if o.command == n):
            spell = ", ".join(f"`{s}`" for s in (o.flag, o.secondary, o.short) if s)
            value = o.kind + (" (repeatable)" if o.multiple else "")
            default = "required" if o.required else ("" if o.default in (None, (), []) else _md(o.default))
            lines.append(f"| {spell} | {value} | {default} | {_md(o.help)} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    text = reference()
    if args[:1] == ["--write"] and len(args) == 2:
        from neurosim.io import write_text_atomic

        write_text_atomic(args[1], text)
        print(f"wrote {args[1]}", file=sys.stderr)
    elif not args:
        sys.stdout.write(text)
    else:
        print("usage: python -m neurosim.commands._vocabulary [--write FILE]", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
