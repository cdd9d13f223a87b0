"""Chip-in-the-loop progressive fine-tuning.

Layer by layer, the chip's measured outputs replace the software's: with layers 0..n on the chip,
the outputs of layer n are measured on the training set, layers n+1..N-1 are fine-tuned in
software on those measurements (with the training's weight-noise injection), then layer n+1 is
programmed with its fine-tuned weights, calibrated, and the loop moves on. Each layer thus learns
to work with the errors of the real layers below it (Wan et al. 2022, Fig. 4).

The chip is reached through a :class:`ChipDriver`: four calls that a driver for a physical NeuRRAM
board can implement as well as :class:`SimulatedChip` does for the simulation.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .._checks import as_finite_array, check_int

__all__ = ["ChipDriver", "SimulatedChip", "progressive_finetune"]


class ChipDriver:
    """What chip-in-the-loop fine-tuning needs from a chip.

    A network is a sequence of stages (a weighted layer and the pooling / flattening after it),
    all programmed on the chip. A driver implements:
    """

    n_stages = 0

    def program_layer(self, index: int, W: ArrayLike, b: ArrayLike | None = None, *,
                      x_max: float | None = None, clip: float | None = None) -> None:
        """Write new weights into weighted layer ``index`` (its own shapes; input range x_max and
        ReLU range clip when they changed)."""
        raise NotImplementedError

    def calibrate_layer(self, index: int, x: np.ndarray) -> Any:
        """Calibrate layer ``index`` on x, its inputs as measured on the chip."""
        raise NotImplementedError

    def measure(self, x: ArrayLike, stop: int) -> np.ndarray:
        """The chip's outputs of stage ``stop - 1`` for network inputs x (stages 0..stop-1 on
        the chip)."""
        raise NotImplementedError

    def predict(self, x: ArrayLike, seed: int | None = 0) -> np.ndarray:
        """The network's outputs (logits) on the chip; ``seed`` picks the read-noise draw of a
        simulated chip (a physical one ignores it)."""
        return self.measure(x, self.n_stages)


class SimulatedChip(ChipDriver):
    """:class:`ChipDriver` for a compiled program on the simulated chip.

    Parameters
    ----------
    program : ChipProgram
        A flat Sequential network compiled onto a chip.
    in_bits, out_bits : int
        Bits of every layer's inputs and outputs.
    head_bits : int, optional
        Bits of the last layer's outputs (see :meth:`ChipProgram.run`).
    calibrate : bool
        Run model-driven calibration (:func:`~snn_neurram.calibration.calibrate_layer`) with
        its per-column correction in :meth:`calibrate_layer`; without it that call does nothing.
    """

    def __init__(self, program: Any, in_bits: int = 4, out_bits: int = 4,
                 head_bits: int | None = None, calibrate: bool = True) -> None:
        self.program = program
        self.in_bits = check_int(in_bits, "in_bits", 1, 8)
        self.out_bits = check_int(out_bits, "out_bits", 1, 8)
        self.head_bits = head_bits
        self.calibrate = bool(calibrate)
        self.n_stages = len(program.stages())
        self.log: list[tuple[str, int]] = []    # (call, layer index): the order of the loop

    def program_layer(self, index: int, W: ArrayLike, b: ArrayLike | None = None, *,
                      x_max: float | None = None, clip: float | None = None) -> None:
        self.log.append(("program", index))
        self.program.reprogram_layer(index, W, b, x_max=x_max, clip=clip)

    def calibrate_layer(self, index: int, x: np.ndarray) -> dict[str, Any] | None:
        from .calibration import calibrate_layer

        self.log.append(("calibrate", index))
        if self.calibrate:
            return calibrate_layer(self.program, index, x, in_bits=self.in_bits,
                                   out_bits=self.out_bits, head_bits=self.head_bits, seed=index)
        return None

    def measure(self, x: ArrayLike, stop: int) -> np.ndarray:
        self.log.append(("measure", stop - 1))
        return self.program.run_stages(x, 0, stop, self.in_bits, self.out_bits,
                                       head_bits=self.head_bits)

    def predict(self, x: ArrayLike, seed: int | None = 0) -> np.ndarray:
        return self.program.run_stages(x, 0, self.n_stages, self.in_bits, self.out_bits,
                                       head_bits=self.head_bits, seed=seed)


def _weighted(model):
    from ..compiler.tiling import weighted_layers

    return weighted_layers(model)


def progressive_finetune(driver: ChipDriver, net: Any, X: ArrayLike, y: ArrayLike, *,
                         epochs: int = 1, lr: float = 3e-4, batch_size: int = 128,
                         calibration_samples: int = 512, X_val: ArrayLike | None = None,
                         y_val: ArrayLike | None = None, gate: bool = True, seed: int = 0,
                         log: Callable[[str], Any] | None = print,
                         progress: bool = False) -> list[dict[str, Any]]:
    """Progressive chip-in-the-loop fine-tuning of ``net`` with ``driver``.

    For n = 0 .. N-2: measure stage n's outputs on the chip for the training inputs X; train
    stages n+1..N-1 of ``net`` on them (``epochs`` epochs, the net's weight noise on); write the
    fine-tuned layer n+1 to the chip (with its input range and clip) and calibrate it on its
    measured inputs. Layer 0 is taken as already programmed and calibrated.

    Parameters
    ----------
    driver : ChipDriver
    net : snn_neurram.training.QuantNet
        The network the chip holds (trained with :func:`snn_neurram.training.train`).
    X, y : array_like
        Training inputs and labels.
    epochs : int
        Epochs of fine-tuning per step.
    lr, batch_size : float, int
    calibration_samples : int
        Training inputs used to calibrate each reprogrammed layer.
    X_val, y_val : array_like, optional
        When given, the chip's accuracy on them is measured before the loop and after every
        step.
    gate : bool
        With X_val: a step that lowers the chip's validation accuracy is undone -- the net's
        tail gets its weights back and the layer is written again with its previous weights
        and calibrated (a chip cannot un-write cells: the rewrite is a new write-verify).
    seed : int
    log : callable or None
    progress : bool
        Progress bars of the training epochs.

    Returns
    -------
    list of dict
        One entry per step: stage measured, stages trained, software accuracy of the tail on the
        measured activations before and after, the chip's validation accuracy before and after
        the step, and whether the step was kept (``accepted``).
    """
    from ..training import evaluate, export, train

    X = as_finite_array(X, "X")
    y = np.asarray(y)
    n = driver.n_stages
    if net.n_stages != n:
        raise ValueError(f"net has {net.n_stages} stages, the chip's network {n}")
    rng = np.random.default_rng(check_int(seed, "seed", 0, 2 ** 62))
    calib = np.sort(rng.choice(len(X), min(calibration_samples, len(X)), replace=False))

    def correct():
        return driver.predict(X_val).argmax(axis=1) == np.asarray(y_val)

    hits = correct() if X_val is not None else None
    steps = []
    for k in range(n - 1):
        acts = driver.measure(X, k + 1)
        before = evaluate(net, acts, y, start=k + 1)
        saved = copy.deepcopy(net.state_dict())
        train(net, acts, y, epochs=epochs, lr=lr, batch_size=batch_size, start=k + 1,
              progress=progress, seed=seed + k, checkpoint=None)
        after = evaluate(net, acts, y, start=k + 1)
        layer = _weighted(export(net))[k + 1]
        driver.program_layer(k + 1, layer.W, layer.b, x_max=layer.x_max, clip=layer.clip)
        driver.calibrate_layer(k + 1, acts[calib])
        entry = {"measured_stage": k, "trained_stages": list(range(k + 1, n)),
                 "tail_accuracy_before": before, "tail_accuracy_after": after,
                 "accepted": True}
        if hits is not None:
            new = correct()
            entry["chip_val_accuracy"] = [float(hits.mean()), float(new.mean())]
            if gate and new.mean() < hits.mean():
                net.load_state_dict(saved)
                layer = _weighted(export(net))[k + 1]
                driver.program_layer(k + 1, layer.W, layer.b, x_max=layer.x_max,
                                     clip=layer.clip)
                driver.calibrate_layer(k + 1, acts[calib])
                entry["accepted"] = False
                new = correct()
                entry["chip_val_accuracy_rewritten"] = float(new.mean())
            hits = new
        steps.append(entry)
        if log:
            text = (f"  step {k + 1}/{n - 1}: layer {k} measured, layers {k + 1}..{n - 1} "
                    f"fine-tuned ({before:.4f} -> {after:.4f} on the measured activations)")
            if "chip_val_accuracy" in entry:
                text += ", chip validation {:.4f} -> {:.4f}".format(*entry["chip_val_accuracy"])
                if not entry["accepted"]:
                    text += (", undone (rewritten: "
                             f"{entry['chip_val_accuracy_rewritten']:.4f})")
            log(text)
    return steps
