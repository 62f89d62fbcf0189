"""Published peaks as bounds: a hardware model driven at saturation must not do more than the real system can.

Saturation, from the model's own figures (nothing here is fitted): every neuro core of the system is busy for the
whole of every step, its two units side by side as the core model runs them (a core's synapse unit: axon_in ->
synapse -> dendrite; its soma unit: soma -> axon_out):

* the synapse unit does one synaptic op after another: ``1 / t_synop`` ops per second per core, each costing
  ``e_synop`` (the receive and accumulate stages cost what the model says, here 0 pJ on Loihi's figures);
* the soma unit updates one neuron after another: ``1 / t_update`` updates per second per core, each ``e_update``;
  a ``firing`` fraction of the updates also fire (``t_spike``, ``e_spike``) and send one message (``t_send``,
  ``e_send``), serially in the soma unit as SANA-FE's detailed model runs it;
* the system's static power on top (``chip.static_power`` x chips).

The peaks this gives (synaptic ops/s, neuron ops/s, power) are held against Intel's published figures for Hala
Point (Intel newsroom, "Intel Builds World's Largest Neuromorphic System to Enable More Sustainable AI", April 17
2024, and its Hala Point fact sheet): up to 380 T synaptic ops/s, 240 T neuron ops/s, 2,600 W maximum power.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Intel's published Hala Point peaks (April 2024 announcement and fact sheet)
HALA_POINT_PUBLISHED = {
    "synaptic_ops_per_s": 380e12,
    "neuron_ops_per_s": 240e12,
    "power_W": 2600.0,
}
HALA_POINT_SOURCE = ("Intel newsroom, 'Intel Builds World's Largest Neuromorphic System to Enable More Sustainable "
                     "AI' (Hala Point), April 17 2024, and the Hala Point fact sheet: 1,152 Loihi 2 chips, 140,544 "
                     "neuro cores, up to 380 trillion synaptic ops/s and 240 trillion neuron ops/s, 2,600 W maximum")


@dataclass(frozen=True)
class Saturation:
    """What a hardware model does with every core busy every step (see the module docstring)."""

    hardware: str
    cores: int
    chips: int
    firing: float
    synaptic_ops_per_s: float
    neuron_ops_per_s: float
    dynamic_W: float
    static_W: float

    @property
    def power_W(self) -> float:
        return self.dynamic_W + self.static_W

    def ratios(self, published: dict[str, float] = HALA_POINT_PUBLISHED) -> dict[str, float]:
        """model / published for each peak (<= 1: the model does not exceed what was published)."""
        mine = {"synaptic_ops_per_s": self.synaptic_ops_per_s, "neuron_ops_per_s": self.neuron_ops_per_s,
                "power_W": self.power_W}
        return {k: mine[k] / published[k] for k in published}


def saturation(hw, firing: float = 0.0) -> Saturation:
    """The peak rates and power of ``hw`` with every core's synapse and soma units busy the whole step;
    ``firing`` in [0, 1]: the fraction of neuron updates that also fire and send one message."""
    if not 0.0 <= firing <= 1.0:
        raise ValueError(f"firing = {firing}; allowed: 0..1")
    p = hw.core.pipeline
    t_syn = p.synapse["read"].latency.v + p.dendrite["accumulate"].latency.v  # ns per synaptic op
    e_syn = p.synapse["read"].energy.v + p.dendrite["accumulate"].energy.v  # pJ
    soma = p.soma
    t_upd = soma["update"].latency.v + soma["state_read"].latency.v + soma["state_write"].latency.v
    e_upd = soma["update"].energy.v + soma["state_read"].energy.v + soma["state_write"].energy.v
    t_fire = soma["spike"].latency.v + p.axon_out["send"].latency.v
    e_fire = soma["spike"].energy.v + p.axon_out["send"].energy.v
    t_neuron = t_upd + firing * t_fire  # ns of soma-unit time per neuron update
    e_neuron = e_upd + firing * e_fire
    cores = hw.total_cores
    syn_per_s = cores * 1e9 / t_syn
    upd_per_s = cores * 1e9 / t_neuron
    # pJ/ns = mW; sum over cores, in W
    dynamic_W = cores * (e_syn / t_syn + e_neuron / t_neuron) * 1e-3
    return Saturation(hardware=hw.name, cores=cores, chips=hw.n_chips, firing=firing,
                      synaptic_ops_per_s=syn_per_s, neuron_ops_per_s=upd_per_s, dynamic_W=dynamic_W,
                      static_W=hw.static_power_mw() * 1e-3)


def firing_at_power(hw, power_W: float, tol: float = 1e-4) -> float | None:
    """The firing fraction at which the saturated model reaches ``power_W`` (None if it never does in [0, 1];
    0.0 if it is above already without firing)."""
    lo, hi = 0.0, 1.0
    if saturation(hw, lo).power_W >= power_W:
        return 0.0
    if saturation(hw, hi).power_W < power_W:
        return None
    while hi - lo > tol:
        mid = (lo + hi) / 2
        if saturation(hw, mid).power_W < power_W:
            lo = mid
        else:
            hi = mid
    return hi
