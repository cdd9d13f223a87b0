"""Energy and latency model against the chip's measured figures and closed forms."""

import json

import numpy as np
import pytest

import snn_neurram as sn
from snn_neurram.energy import (PUBLISHED, EnergyModel, fit_to_published, mvm_account,
                                mvm_events, peak, program_account, spike_account)
from snn_neurram.models import mnist_cnn


@pytest.mark.parametrize("bits", range(1, 9))
def test_reproduces_measured_throughput_and_efficiency(bits):
    """Fully used 48-core chip, output bits = input bits + 2: TOPS and TOPS/W within 15 %
    of Nature 2022 ED Fig. 12."""
    p = peak(bits)
    tops, tops_w = PUBLISHED["throughput"][bits]
    assert p["tops"] == pytest.approx(tops, rel=0.15)
    assert p["tops_per_w"] == pytest.approx(tops_w, rel=0.15)


@pytest.mark.parametrize("bits", [1, 4, 8])
def test_reproduces_measured_energy_split(bits):
    split = dict(zip(("wl_switching", "neuron", "input_pulses"),
                     PUBLISHED["split_fj_per_mac"][bits]))
    got = peak(bits)["fj_per_mac"]
    for k, v in split.items():
        assert got[k] == pytest.approx(v, rel=0.20), k


def test_default_constants_are_the_published_fit():
    fit, default = fit_to_published().to_dict(), EnergyModel().to_dict()
    for k in ("e_wl_phase", "e_wl_pulse", "e_input_pulse", "e_neuron_phase", "e_neuron_cycle",
              "t_phase", "t_cycle", "t_adc_step"):
        assert default[k] == pytest.approx(fit[k], rel=1e-3), k
    # the fitted times are those the energy-model fit of DESIGN.md quotes (0.27 us, 0.3 us)
    assert default["t_cycle"] == pytest.approx(0.27e-6, rel=0.1)
    assert default["t_adc_step"] == pytest.approx(0.3e-6, rel=0.2)


def test_event_counts_closed_form():
    ev = mvm_events(20, 7, in_bits=3, out_bits=5)
    assert ev == {"rows": 20, "cols": 7, "phases": 1, "cycles": 7, "pulses": 3, "adc_steps": 5}
    ev = mvm_events(20, 7, in_bits=6, out_bits=8, multiplier=2)
    assert (ev["phases"], ev["cycles"], ev["adc_steps"]) == (2, 2 * (15 + 3), 16)
    assert mvm_events(1, 1, 2, 4, adc="unary")["adc_steps"] == 8
    assert mvm_events(1, 1, 2, 4, adc="unary", unsigned=True)["adc_steps"] == 15
    m = EnergyModel()
    acc = mvm_account(20, 7, 3, 5, activity=0.5, model=m)
    assert acc["wl_switching"] == pytest.approx(20 * (m.e_wl_phase + 3 * m.e_wl_pulse))
    assert acc["input_pulses"] == pytest.approx(20 * 3 * 0.5 * m.e_input_pulse)
    assert acc["neuron"] == pytest.approx(7 * (m.e_neuron_phase + 7 * m.e_neuron_cycle))
    assert acc["time"] == pytest.approx(m.t_phase + 7 * m.t_cycle + 5 * m.t_adc_step)
    sp = spike_account(10, 4, cycles=3, model=m)
    assert sp["total"] == pytest.approx(20 * (m.e_wl_pulse + m.e_input_pulse) +
                                        12 * m.e_neuron_cycle)


def test_program_account_layers_and_replication(rng):
    x = rng.uniform(0, 1, (16, 1, 28, 28))
    plain = sn.compile(mnist_cnn(), sn.Chip(seed=0), calibration=x)
    repl = sn.compile(mnist_cnn(), sn.Chip(seed=0), calibration=x, replicate=True)
    a, b = program_account(plain), program_account(repl)
    assert [L["mvms"] for L in a["layers"]] == [784, 784, 196, 196, 49, 49, 1]
    assert a["macs_per_inference"] == sum(p.n_in * p.n_out * p.mvms_per_input
                                          for p in plain.plans)
    assert a["energy_per_inference_j"] == pytest.approx(sum(a["energy_by_component_j"].values()))
    assert a["latency_per_inference_s"] == pytest.approx(sum(L["latency_s"] for L in a["layers"]))
    # one core holds everything: its MVMs run one after another, latency = its busy time
    assert a["inferences_per_s_pipelined"] == pytest.approx(1 / a["latency_per_inference_s"])
    # copies spread the MVMs over cores: same work and energy, less latency
    assert b["energy_per_inference_j"] == pytest.approx(a["energy_per_inference_j"], rel=1e-9)
    assert b["latency_per_inference_s"] < a["latency_per_inference_s"] / 5
    assert b["edp_js"] < a["edp_js"]
    rep = plain.report()
    assert rep["energy"]["tops_per_w"] > 0


def test_energy_cli(tmp_path):
    from snn_neurram.cli import main

    out, fig = tmp_path / "e.json", tmp_path / "e.png"
    assert main(["energy", "digits-mlp", "--in-bits", "3", "--json", str(out),
                 "--figure", str(fig)]) == 0
    acc = json.loads(out.read_text())
    assert acc["in_bits"] == 3 and len(acc["layers"]) == 2
    assert fig.exists()
