"""Hardware models: loading, units, provenance of every figure, errors, and the energy table they imply."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from neurosim.cli import main
from neurosim.counters import ACTIONS, COLUMNS
from neurosim.errors import NeurosimError
from neurosim.hardware import (
    UNITS,
    builtin_hardware,
    hardware_from_dict,
    iter_figures,
    load_hardware,
    parse_quantity,
)
from neurosim.resources import resolve

BUILTINS = ["loihi", "loihi2", "kapoho-point", "hala-point", "horowitz-45nm", "loihi-sanafe"]


def test_all_issue_builtins_exist():
    assert set(BUILTINS) <= set(builtin_hardware())


@pytest.mark.parametrize("name", BUILTINS)
def test_every_builtin_figure_has_a_source_or_assumption(name):
    hw = load_hardware(name)
    rows = hw.figures()
    assert len(rows) > 40
    for r in rows:
        assert r["source"].strip() or r["assumption"].strip(), f"{name}: {r['field']} has no source or assumption"


def _walk(node, path=""):
    if isinstance(node, dict):
        yield path, node
        for k, v in node.items():
            yield from _walk(v, f"{path}.{k}" if path else str(k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _walk(v, f"{path}.{i}")


@pytest.mark.parametrize("name", BUILTINS)
def test_raw_files_have_no_unsourced_numbers(name):
    """Outside figures, a file may hold only structure: version, names, attach positions, notes."""
    raw = yaml.safe_load(Path(resolve("hardware", name)).read_text())
    for path, node in _walk(raw):
        if "value" in node:
            assert (node.get("source") or node.get("assumption")), f"{name}: {path} lacks source/assumption"
            continue
        for k, v in node.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                assert k == "version", f"{name}: bare number at {path}.{k}"


def test_loihi_figures_match_the_published_table():
    hw = load_hardware("loihi")
    p = hw.core.pipeline
    assert p.synapse["read"].energy.v == pytest.approx(23.6)
    assert p.synapse["read"].latency.v == pytest.approx(3.5)
    assert hw.chip.hop.east_west.energy.v == 3.0 and hw.chip.hop.north_south.energy.v == 4.0
    assert hw.chip.hop.east_west.latency.v == pytest.approx(4.1)
    assert hw.chip.tile_spike_bandwidth.v == pytest.approx(3.44e9)
    assert hw.chip.static_power.v == pytest.approx(104.0)  # mW
    assert hw.core.synapse_memory.v == 128 * 1024
    assert hw.chip.cores == 128 and hw.mesh_shape == (8, 4, 4)


def test_loihi2_systems_extend_the_chip():
    chip = load_hardware("loihi2")
    kp, hp = load_hardware("kapoho-point"), load_hardware("hala-point")
    assert chip.chip.cores == 128 and chip.mesh_shape == (8, 16, 1)
    assert chip.core.max_neurons.v == 8192 and chip.core.synapse_memory.v == 131072
    assert chip.core.message_bits.v == 32
    assert kp.n_chips == 8 and kp.total_cores == 1024
    assert hp.n_chips == 1152 and hp.total_cores == 140_544
    assert hp.core.model_dump() == chip.core.model_dump()
    assert "Loihi" in chip.core.pipeline.synapse["read"].energy.assumption


@pytest.mark.parametrize("text,dim,expected", [
    ("128 KiB", "bytes", 131072.0), ("128 KB", "bytes", 128000.0), ("1.5 MiB", "bytes", 1.5 * 2**20),
    ("23.6 pJ", "energy", 23.6), ("0.1 nJ", "energy", 100.0), ("3.5 ns", "time", 3.5), ("2 us", "time", 2000.0),
    ("104 mW", "power", 104.0), ("2.6 kW", "power", 2.6e6), ("5 TB/s", "bandwidth", 5e12),
    ("3.44 Gspike/s", "spike_rate", 3.44e9), ("400 Mop/s", "op_rate", 4e8), ("2 pJ/bit", "energy_per_bit", 2.0),
    ("32 bit", "bits", 32.0), (8192, "count", 8192.0), ("1e3 pJ", "energy", 1000.0),
])
def test_units_parse_into_internal_units(text, dim, expected):
    assert parse_quantity(text, dim) == pytest.approx(expected)


@pytest.mark.parametrize("text,dim", [("12 parsecs", "energy"), ("3.5", "time"), (3.5, "time"), ("ns", "time"),
                                      ("-1 pJ", "energy"), ("128 KiB", "energy"), (True, "count")])
def test_bad_units_are_rejected_with_the_allowed_units(text, dim):
    with pytest.raises(ValueError) as exc:
        parse_quantity(text, dim)
    msg = str(exc.value)
    if dim != "count" and "must be" not in msg:
        assert "allowed" in msg and next(iter(UNITS[dim])) in msg


def _raw(name="loihi2"):
    return yaml.safe_load(Path(resolve("hardware", name)).read_text())


def _write(tmp_path, data, name="bad.yaml"):
    p = tmp_path / name
    p.write_text(yaml.safe_dump(data))
    return p


def test_unparsable_unit_exits_2_naming_file_field_and_units(tmp_path, capsys):
    d = _raw()
    d["core"]["pipeline"]["synapse"]["read"]["energy"]["value"] = "23.6 parsecs"
    p = _write(tmp_path, d)
    assert main(["hw", "show", str(p)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert str(p) in err and "core.pipeline.synapse.read.energy" in err and "pJ" in err and "allowed" in err


def test_missing_field_exits_2(tmp_path, capsys):
    d = _raw()
    del d["core"]["max_neurons"]
    assert main(["hw", "show", str(_write(tmp_path, d))]) == 2
    err = capsys.readouterr().err
    assert "missing field 'core.max_neurons'" in err


def test_negative_figure_exits_2(tmp_path, capsys):
    d = _raw()
    d["chip"]["static_power"]["value"] = "-104 mW"
    assert main(["hw", "show", str(_write(tmp_path, d))]) == 2
    assert "chip.static_power" in capsys.readouterr().err


def test_figure_without_source_or_assumption_is_rejected():
    d = _raw()
    d["core"]["max_fan_in"] = {"value": 4096}
    with pytest.raises(NeurosimError, match="core.max_fan_in.*source.*assumption"):
        hardware_from_dict(d, "test")


def test_unknown_field_and_bad_grid_are_rejected():
    d = _raw()
    d["core"]["max_nerons"] = {"value": 1, "source": "typo"}
    with pytest.raises(NeurosimError, match="unknown field 'core.max_nerons'"):
        hardware_from_dict(d, "test")
    d = _raw()
    d["system"]["chips"]["value"] = 3
    with pytest.raises(NeurosimError, match="grid"):
        hardware_from_dict(d, "test")


def test_overrides_with_set():
    hw = load_hardware("loihi2", ["core.synapse_memory.value=192 KiB"])
    assert hw.core.synapse_memory.v == 192 * 1024


def _all_actions_counters() -> pd.DataFrame:
    rows = []
    for action, (component, _) in ACTIONS.items():
        variants = [(0.0, "")]
        if action == "ac":
            variants = [(4.0, "ternary"), (1.58, "ternary"), (8.0, "binary"), (16.0, "ternary")]
        elif action == "mac":
            variants = [(4.0, "int4"), (16.0, "fp16"), (32.0, "fp32"), (4.0, "int8")]
        elif action in ("synapse_read",):
            variants = [(4.0, ""), (16.0, "")]
        elif action in ("kv_read", "kv_write", "embedding_read"):
            variants = [(16.0, ""), (4.0, "")]
        elif action == "add":
            variants = [(16.0, "fp16")]
        for w, a in variants:
            rows.append(("analytic", "x", 0, "qkv", "linear", "", component, action, w, a, 10.0))
    return pd.DataFrame(rows, columns=COLUMNS)


@pytest.mark.parametrize("name", BUILTINS)
def test_energy_table_prices_every_counted_action(name):
    hw = load_hardware(name)
    table = hw.energy_table()
    priced = table.price(_all_actions_counters())
    assert set(priced["action"]) == set(ACTIONS)
    assert (priced["energy_pj"] >= 0).all()
    for p in table.prices:
        assert p.source or p.assumption


def test_energy_table_uses_the_spec_figures():
    hw = load_hardware("loihi2")
    t = hw.energy_table(ew_fraction=1.0)
    unit = lambda a, w=0.0, r="": t.unit_energy_pj(a, w, r)[0]
    assert unit("synapse_read", 4.0) == pytest.approx(23.6)
    assert unit("synapse_read", 16.0) == pytest.approx(47.2)  # split over two 8-bit synapses
    assert unit("neuron_update") == pytest.approx(52.0)
    assert unit("message") == pytest.approx(111.0)
    assert unit("hop_onchip") == pytest.approx(3.0)
    assert unit("hop_chip") == pytest.approx(2.0 * 64)
    assert unit("mac", 16.0, "fp16") == pytest.approx(50.0)
    assert unit("kv_read", 4.0) == pytest.approx(20.0 * 4 / 64)


def test_static_energy_is_power_times_time():
    hw = load_hardware("hala-point")
    assert hw.static_power_mw() == pytest.approx(104.0 * 1152)
    assert hw.static_energy_pj(1e6, chips=10) == pytest.approx(104.0 * 10 * 1e6)  # 1 ms, 10 chips: 1.04 mJ


def test_every_figure_path_is_reported():
    hw = load_hardware("loihi2")
    paths = {p for p, _ in iter_figures(hw)}
    assert "core.pipeline.axon_out.send.energy" in paths and "system.chip_link.bandwidth" in paths


def test_hw_show_and_list_commands(capsys):
    assert main(["hw", "list", "--format", "csv"]) == 0
    out = capsys.readouterr().out
    for n in BUILTINS:
        assert n in out
    assert main(["hw", "show", "loihi", "--format", "json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["name"] == "loihi" and d["total_cores"] == 128
    assert any("Davies" in f["source"] for f in d["figures"])
    assert {r["action"] for r in d["energy_table"]} == set(ACTIONS)
    assert main(["hw", "show", "hala-point"]) == 0
    out = capsys.readouterr().out
    assert "1152" in out and "source" in out


def test_unknown_hardware_name_exits_2(capsys):
    assert main(["hw", "show", "loihi9"]) == 2
    assert "unknown hardware 'loihi9'" in capsys.readouterr().err
