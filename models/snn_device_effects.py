"""Where a trained SNN's points go on the chip: each device effect switched off in turn.

    python models/snn_device_effects.py --dataset digits --seeds 0,1,2 --chips 4
    python models/snn_device_effects.py --dataset fashion-mnist --test 2000 --chips 2
    python models/snn_device_effects.py --dataset keywords --steps 100 --chips 1

Trains the spiking network of each seed by the project's recipe (digits and Fashion-MNIST:
``snn_neurram.apps.snn_models.train_snn_for``, rate-coded over 16 steps; keywords: the
recurrent SNN of ``snn_neurram.apps.keyword_bench`` on cochlear spike trains), then runs its
test set on chips (seeds 0 ... chips - 1) with every device effect on, without relaxation,
without read noise and on an ideal device, and prints the accuracies (and the software
accuracy on the same spike trains). For the first seed it also prints each analog layer's
thresholds in volts and where its membrane saturates, in thresholds. Needs the `train` extra
(and `audio` plus espeak-ng for the keywords).
"""

from __future__ import annotations

import argparse
import json

import numpy as np

import snn_neurram as sn
from snn_neurram.compiler.conversion import spiking_plan
from snn_neurram.compiler.native import simulate_float

DEVICES = {
    "every effect": lambda: sn.RRAMDevice(),
    "no relaxation": lambda: sn.RRAMDevice().with_effects(relaxation=False),
    "no read noise": lambda: sn.RRAMDevice().with_effects(read_noise=False),
    "ideal device": sn.RRAMDevice.ideal,
}


def _data(dataset, seed, steps, test):
    """(train spike trains or inputs, train labels, test spike trains, test labels)."""
    if dataset == "keywords":
        from snn_neurram.apps.audio_features import cochlear_spikes
        from snn_neurram.apps.keywords import load_keywords

        d = load_keywords("full", 0, log=lambda s: None)
        S = cochlear_spikes(d.X, channels=64, steps=steps)
        split, y = np.asarray(d.split), np.asarray(d.y)
        return S[split == "train"], y[split == "train"], S[split == "test"][:test], \
            y[split == "test"][:test]
    from snn_neurram.apps.datasets import load_dataset

    X_tr, X_te, y_tr, y_te = load_dataset(dataset, flat=True, seed=0)
    X_te, y_te = X_te[:test], y_te[:test]
    rng = np.random.default_rng([0, steps, 7])               # as snn-neurram compare draws them
    S_te = (rng.random((len(X_te), steps) + X_te.shape[1:]) <
            np.clip(X_te, 0, 1)[:, None]).astype(np.int8)
    return X_tr, y_tr, S_te, y_te


def _train(dataset, X, y, steps, seed):
    if dataset == "keywords":
        from snn_neurram.apps.keyword_bench import KEYWORD_SNN_RECIPE as r
        from snn_neurram.training.snn import SpikingNet, export_snn, train_snn

        net = SpikingNet.mlp([X.shape[2], r["hidden"], int(y.max()) + 1], beta=r["beta"],
                             threshold=r["threshold"], reset=r["reset"], recurrent=True,
                             seed=seed)
        train_snn(net, X, y, steps=steps, coding="spikes", epochs=r["epochs"], lr=r["lr"],
                  batch_size=r["batch_size"], seed=seed)
        return export_snn(net)
    from snn_neurram.apps.snn_models import train_snn_for

    return train_snn_for(dataset, X, y, steps, seed, lambda s: None)[0]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=["digits", "fashion-mnist", "keywords"],
                        default="digits")
    parser.add_argument("--seeds", default="0", help="training seeds, comma-separated")
    parser.add_argument("--chips", type=int, default=4)
    parser.add_argument("--steps", type=int, default=None,
                        help="time steps (default 16; keywords 50)")
    parser.add_argument("--test", type=int, default=100000, help="first N test inputs")
    parser.add_argument("--json", metavar="PATH")
    args = parser.parse_args(argv)
    steps = args.steps or (50 if args.dataset == "keywords" else 16)
    X_tr, y_tr, S_te, y_te = _data(args.dataset, 0, steps, args.test)
    calib = X_tr[:256]
    result = {"dataset": args.dataset, "steps": steps, "chips": args.chips, "seeds": {}}
    for k, seed in enumerate(int(s) for s in args.seeds.split(",")):
        model = _train(args.dataset, X_tr, y_tr, steps, seed)
        soft = float(np.mean(simulate_float(model, np.moveaxis(S_te, 1, 0)).predictions == y_te))
        row = {"software": soft}
        print(f"seed {seed}: software {100 * soft:.2f} %")
        for name, device in DEVICES.items():
            acc = []
            for c in range(args.chips):
                prog = sn.compile(model, sn.Chip(seed=c, device=device()), calibration=calib)
                res = prog.run(S_te, mode="snn", coding="spikes", seed=0)
                acc.append(float(np.mean(res.predictions == y_te)))
                if k == 0 and c == 0 and name == "every effect":
                    _thresholds(prog, model, steps)
            row[name] = acc
            print(f"  {name:14s} {' '.join(f'{100 * a:.2f}' for a in acc)}  mean "
                  f"{100 * np.mean(acc):.2f} %  (gap {100 * (soft - np.mean(acc)):.2f} points)")
        result["seeds"][seed] = row
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=2)


def _thresholds(prog, model, steps):
    """Thresholds in volts and membrane limits of the analog layers (chip seed 0)."""
    for k, layer in enumerate(model.layers):
        sp = spiking_plan(prog.plan, layer, k == len(model.layers) - 1, "membrane", "spikes",
                          steps)
        if not sp.digital:
            print(f"  {layer.name}: V_read {[c.v_read for c in sp.block_configs]} V, median "
                  f"threshold {1000 * np.median(sp.theta):.1f} mV, membrane saturates at "
                  f"{np.median(sp.neuron.v_swing / sp.theta):.0f} thresholds (median)")


if __name__ == "__main__":
    main()
