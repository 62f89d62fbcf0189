"""The resource guard: before a run starts, the memory and time it will take, from the graph, the hardware model and
the mapping (or, before mapping, the cores the weights need), and a one-line refusal when it will not fit.

The run pipeline (:func:`neurosim.pipeline.run_workload`) calls :func:`check_run` before it maps and again once it
has the mapping; nothing else decides. The limit is :func:`neurosim.machine.memory_limit` (``--max-memory``,
``NEUROSIM_MAX_MEMORY``, else what this machine has available). A refusal names what the run would need and the
ways to make it fit that do fit (``--mode statistical``, at most N ``--tokens``, a ``--block``), each estimated.

The estimate is a peak resident size: this process as it is now, plus what the run adds. What a run adds follows
the engines' data structures (docs/reliability.md, "What a run needs"), with per-byte constants measured on the
reference machine (Python 3.11, NumPy/OpenBLAS, peak RSS of ``/usr/bin/time``):

statistical  the event-driven simulator builds every token block up front (each token's position and attention
             context, ~9 B a token), draws each block's spikes in arrays of the block's size (~16 B a token of the
             block), and holds a plan and tallies of every mapped core and layer (~24 KiB a core, ~32 KiB a layer,
             ~48 MiB of working set; the same in exact mode);
exact (LM)   the real model is loaded whole (~7.7 B a parameter: file, float copy, quantized and rotated weights),
             the layers run are prepared again (~9.4 B a parameter), and every token keeps the largest projection's
             output in ~5 integer copies while the cores' partial products are checked (~34 B x its width) and the
             spike counts of every encoder (~1 B x width);
exact (SNN)  the network's weights (int64 and float copies, ~24 B a synapse) and every population's spikes, u and v
             at every step (~24 B a neuron-step).

Times are rough (a factor of 3) and only shown: a run estimated past :data:`SAY_TIME_AFTER_S` says so on stderr
before it starts, so nothing large runs silently.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from neurosim.errors import NeurosimError
from neurosim.machine import fmt_bytes, fmt_seconds, memory_limit, process_rss

#: measured constants (see the module docstring); bytes unless named otherwise
STAT_PER_TOKEN = 9.0
STAT_PER_BLOCK_TOKEN = 16.0
PER_CORE = 24 * 2**10
PER_LAYER = 32 * 2**10
SIM_FIXED = 48 * 2**20
EXACT_PER_MODEL_PARAM = 7.7
EXACT_PER_RUN_PARAM = 9.4
EXACT_PER_TOKEN_WIDEST = 34.0
EXACT_PER_TOKEN_ENCODER = 1.0
SNN_PER_SYNAPSE = 24.0
SNN_PER_NEURON_STEP = 24.0
#: seconds: a simulated phase (one layer of one block) per mapped core it touches, and per phase at least
PHASE_S, PHASE_PER_CORE_S = 4e-3, 1e-5
#: seconds per token of building the token blocks and their contexts (statistical mode; 10^8 tokens: ~20 s)
STAT_TOKEN_S = 2e-7
#: seconds of the functional engine per token and block of the real model (exact mode)
EXACT_TOKEN_LAYER_S = 0.01
#: a run estimated to take longer than this says so (on stderr) before it starts
SAY_TIME_AFTER_S = 60.0


@dataclass
class Need:
    """What a run needs: peak resident bytes (this process included), seconds, and the memory by part."""

    memory: float
    seconds: float
    run: str
    parts: dict[str, float] = field(default_factory=dict)

    def text(self) -> str:
        top = sorted(self.parts.items(), key=lambda kv: -kv[1])[:3]
        return (f"about {fmt_bytes(self.memory)} of memory ({', '.join(f'{k} {fmt_bytes(v)}' for k, v in top)}) "
                f"and about {fmt_seconds(self.seconds)}")


def _linear_params(graph) -> tuple[float, float, float]:
    """(parameters of the graph's projections, the widest projection's outputs, the summed widths of its spike
    encoders and sources)."""
    from neurosim.graph import InputSpikes, Linear, SpikeEncoder

    params = widest = enc = 0.0
    for layer in graph:
        if isinstance(layer, Linear):
            params += float(layer.params)
            widest = max(widest, float(layer.out_dim))
        elif isinstance(layer, (SpikeEncoder, InputSpikes)):
            enc += float(layer.out_dim)
    return params, widest, enc


def cores_needed(graph, hw) -> float:
    """Cores the weights need at their bits (a lower bound on the mapping's cores), before mapping."""
    from neurosim.graph import Linear

    core_bytes = max(float(hw.core.synapse_memory.v), 1.0)
    bits = sum(float(layer.params) * max(float(getattr(layer, "w_bits", 8) or 8), 1.0)
               for layer in graph if isinstance(layer, Linear))
    return max(1.0, math.ceil(bits / 8.0 / core_bytes))


def _phases_per_block(graph) -> float:
    return float(max(len(graph.layers), 1))


def estimate_need(graph, hw, *, mode: str, tokens: int, block: int | None = None, context: int = 0,
                  mapping: Any = None, real_model_layers: int | None = None, steps: int | None = None) -> Need:
    """What a run of ``graph`` on ``hw`` needs: ``mode`` statistical or exact; ``tokens`` the run's tokens (exact,
    SNN: its time ``steps``); ``real_model_layers``: the blocks of the real model exact mode loads (all of them,
    whatever --set layers says); ``mapping``: the mapping when there is one (else the cores the weights need)."""
    from neurosim.engines.events.engine import default_block

    tokens = int(tokens)
    cores = float(mapping.cores_used) if mapping is not None else cores_needed(graph, hw)
    parts: dict[str, float] = {"this process now": float(process_rss()),
                               "the simulator and its plan": SIM_FIXED + cores * PER_CORE + len(graph.layers) * PER_LAYER}
    blk = int(block) if block else default_block(tokens)
    n_blocks = math.ceil(tokens / max(blk, 1))
    phases = n_blocks * _phases_per_block(graph)
    seconds = phases * (PHASE_S + PHASE_PER_CORE_S * cores / max(_phases_per_block(graph), 1.0))
    params, widest, enc = _linear_params(graph)
    if mode == "statistical":
        run = f"statistical, {tokens:,} tokens in blocks of {blk:,}"
        parts["token blocks"] = STAT_PER_TOKEN * (tokens + context)
        parts["a block's spike draws"] = STAT_PER_BLOCK_TOKEN * min(blk, tokens)
        seconds += STAT_TOKEN_S * (tokens + context)
    elif steps is not None:  # an explicit-weight SNN
        run = f"exact, {steps:,} time steps"
        neurons = sum(float(layer.out_dim) for layer in graph if type(layer).__name__ in ("LIF", "InputSpikes"))
        parts["weights"] = SNN_PER_SYNAPSE * params
        parts["spikes and state of every step"] = SNN_PER_NEURON_STEP * neurons * steps
        seconds += steps * (params + neurons) * 2e-8
    else:  # exact on a real language model
        run = f"exact, {tokens:,} tokens"
        per_block = sum(float(layer.params) for layer in graph
                        if type(layer).__name__ == "Linear" and (layer.block or 0) >= 0 and layer.block is not None)
        blocks = max(len({layer.block for layer in graph if layer.block is not None and layer.block >= 0}), 1)
        other = params - per_block + sum(float(layer.params) for layer in graph if type(layer).__name__ == "Embedding")
        full = per_block / blocks * (real_model_layers or blocks) + other
        parts["the real model"] = EXACT_PER_MODEL_PARAM * full
        parts["the prepared layers"] = EXACT_PER_RUN_PARAM * params
        parts["per token outputs and checks"] = tokens * (EXACT_PER_TOKEN_WIDEST * widest + EXACT_PER_TOKEN_ENCODER * enc)
        seconds += 20.0 + tokens * blocks * EXACT_TOKEN_LAYER_S
    return Need(sum(parts.values()), seconds, run, parts)


def _fewest_tokens_that_fit(fits: Callable[[int], bool], tokens: int) -> int:
    """The most tokens (below ``tokens``) whose run fits, by bisection; 0 when none does."""
    lo, hi = 0, tokens
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    return lo


def check_run(graph, hw, *, mode: str, tokens: int, block: int | None = None, context: int = 0,
              mapping: Any = None, real_model_layers: int | None = None, steps: int | None = None,
              say: Callable[[str], None] | None = None) -> Need:
    """Refuse (one line: what the run needs, the limit and where it comes from, what would fit) a run whose
    estimate exceeds the memory limit; say the estimate first when the run will take long. Returns the estimate."""
    kw = {"mode": mode, "block": block, "context": context, "mapping": mapping,
          "real_model_layers": real_model_layers}
    need = estimate_need(graph, hw, tokens=tokens, steps=steps, **kw)
    limit, where = memory_limit()
    if need.memory <= limit:
        if need.seconds > SAY_TIME_AFTER_S and say is not None:
            say(f"this run ({need.run}) will take {need.text()}; fewer --tokens (or --mode statistical) is faster")
        return need
    ways = []
    if steps is None:
        def fits(n: int, **over: Any) -> bool:
            return estimate_need(graph, hw, tokens=n, **{**kw, **over}).memory <= limit

        if mode == "exact" and fits(tokens, mode="statistical"):
            stat = estimate_need(graph, hw, tokens=tokens, **{**kw, "mode": "statistical"})
            ways.append(f"--mode statistical (spikes drawn from the rates: {fmt_bytes(stat.memory)})")
        most = _fewest_tokens_that_fit(fits, tokens)
        if most > 0:
            ways.append(f"--tokens {most:,} or fewer")
        if mode == "statistical" and (block or 0) > 1 and fits(tokens, block=max(1, (block or 1) // 16)):
            ways.append(f"a smaller --block ({max(1, (block or 1) // 16):,})")
    else:
        ways.append("fewer time steps (--tokens)")
    how = "; make it fit with " + " or ".join(ways) if ways else "; no smaller setting of this run fits"
    raise NeurosimError(f"this run ({need.run}) would need {need.text()}; the limit is {fmt_bytes(limit)} "
                        f"({where}){how}, or raise the limit with --max-memory")
