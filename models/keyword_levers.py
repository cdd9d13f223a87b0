"""Where the keyword models' points go on the chip, and what the SNN's training levers buy.

    python models/keyword_levers.py --json levers.json            # both parts, ~20 min
    python models/keyword_levers.py --part lstm                   # the LSTM only

``lstm``: the LSTM of ``snn-neurram compare --dataset keywords`` (the recipe of
``snn_neurram.apps.keyword_bench``, seed 0) on chips 0 and 1 at 4 and 6 bits, with every device
effect on, without relaxation, without read noise, without faults and on an ideal device.

``snn``: the recurrent SNN of the same command and three variants (256 hidden units; relative
weight noise eta = 0.05 and 0.10 instead of the device spread), each with its float accuracy,
its accuracy under three draws of the device spread in software (``evaluate_snn(...,
noise="device")``) and on chips 0-2.

Needs the `train` and `audio` extras and espeak-ng.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

import snn_neurram as sn
from snn_neurram.apps.keyword_bench import (KEYWORD_LSTM_RECIPE, KEYWORD_SNN_RECIPE,
                                            mfcc_sequences)
from snn_neurram.apps.keywords import load_keywords

DEVICES = {
    "every effect": lambda: sn.RRAMDevice(),
    "no relaxation": lambda: sn.RRAMDevice().with_effects(relaxation=False),
    "no read noise": lambda: sn.RRAMDevice().with_effects(read_noise=False),
    "no faults": lambda: sn.RRAMDevice().with_effects(faults=False),
    "ideal device": sn.RRAMDevice.ideal,
}
SNN_VARIANTS = {
    "as in compare": {},
    "256 hidden units": {"hidden": 256},
    "relative noise, eta 0.05": {"noise": "relative", "eta": 0.05},
    "relative noise, eta 0.10": {"noise": "relative", "eta": 0.10},
}


def lstm_part(data, masks):
    from snn_neurram.training.lstm import LSTMNet, evaluate_lstm, export_lstm, train_lstm

    tr, va, te = masks
    y = np.asarray(data.y)
    r = KEYWORD_LSTM_RECIPE
    Z = mfcc_sequences(data.X, tr)
    net = LSTMNet(40, r["hidden"], 12, r["cells"], in_bits=r["in_bits"],
                  out_bits=r["out_bits"], seed=0)
    train_lstm(net, Z[tr], y[tr], epochs=r["epochs"], lr=r["lr"], batch_size=r["batch_size"],
               noise=r["noise"], X_val=Z[va], y_val=y[va], seed=0)
    out = {"software": evaluate_lstm(net, Z[te], y[te])}
    print(f"LSTM quantised software {100 * out['software']:.2f} %")
    model = export_lstm(net)
    for name, device in DEVICES.items():
        for c in range(2):
            program = sn.compile(model, sn.Chip(seed=c, device=device()),
                                 calibration=Z[tr][:256])
            for bits in (4, 6):
                pred = program.run(Z[te], in_bits=bits, out_bits=bits,
                                   head_bits=r["head_bits"]).argmax(1)
                acc = float(np.mean(pred == y[te]))
                out[f"{name}, chip {c}, {bits} bits"] = acc
                print(f"  {name:14s} chip {c} {bits} bits: {100 * acc:.2f} %")
    return out


def snn_part(data, masks):
    from snn_neurram.apps.audio_features import cochlear_spikes
    from snn_neurram.compiler.native import simulate_float
    from snn_neurram.training.snn import SpikingNet, evaluate_snn, export_snn, train_snn

    tr, va, te = masks
    y = np.asarray(data.y)
    r = KEYWORD_SNN_RECIPE
    S = cochlear_spikes(data.X, channels=r["channels"], steps=r["steps"])
    out = {}
    for name, change in SNN_VARIANTS.items():
        hidden = change.get("hidden", r["hidden"])
        net = SpikingNet.mlp([r["channels"], hidden, 12], beta=r["beta"],
                             threshold=r["threshold"], reset=r["reset"], recurrent=True, seed=0)
        train_snn(net, S[tr], y[tr], steps=r["steps"], coding="spikes", epochs=r["epochs"],
                  lr=r["lr"], batch_size=r["batch_size"], X_val=S[va], y_val=y[va], seed=0,
                  noise=change.get("noise", "device"), eta=change.get("eta", 0.15))
        model = export_snn(net)
        software = float(np.mean(simulate_float(model, np.moveaxis(S[te], 1, 0)).predictions
                                 == y[te]))
        noisy = evaluate_snn(net, S[te], y[te], steps=r["steps"], coding="spikes",
                             noise="device", draws=3)
        chips = []
        for c in range(3):
            program = sn.compile(model, sn.Chip(seed=c), calibration=S[tr][:256])
            res = program.run(S[te], mode="snn", coding="spikes")
            chips.append(float(np.mean(res.predictions == y[te])))
        out[name] = {"software": software, "software_device_noise": noisy, "chips": chips,
                     "gap_points": 100 * (software - float(np.mean(chips)))}
        print(f"{name:26s} software {100 * software:.2f} %, with device noise "
              f"{100 * noisy:.2f} %, chips {[round(100 * a, 2) for a in chips]}, gap "
              f"{out[name]['gap_points']:.2f}")
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["lstm", "snn", "both"], default="both")
    parser.add_argument("--json", metavar="PATH")
    args = parser.parse_args()
    data = load_keywords("full", 0, log=lambda s: None)
    split = np.asarray(data.split)
    masks = tuple(split == s for s in ("train", "val", "test"))
    result = {}
    if args.part in ("lstm", "both"):
        result["lstm"] = lstm_part(data, masks)
    if args.part in ("snn", "both"):
        result["snn"] = snn_part(data, masks)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
