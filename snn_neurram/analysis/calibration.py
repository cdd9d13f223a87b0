"""Model-driven calibration of a compiled network, layer by layer on the chip.

The compiler sets every block's operating point from the *float* model's activations on whatever
calibration inputs it was given (random ones when none). Model-driven calibration redoes this
with what the chip will actually see, one layer after the other, on samples of the training data:

1. Layer k's inputs are the chip's own outputs of layers 0..k-1 (already calibrated), not the
   float model's.
2. Operating point: a layer whose ReLU runs in the neurons puts the model's output range (its
   clip, or the float model's 99.9th percentile) at the top of the ADC (median column, on the
   columns' conductance sums as programmed), so the codes quantise
   exactly the range the network was trained for; other blocks (partial sums, linear outputs)
   put the ``adc_percentile``-th percentile of the chip's integrated voltage at the top.
3. Per-column linear correction: on the same samples, each output column's chip values y are
   regressed on the values the layer's weights give for the same quantised inputs (for a ReLU
   layer, the ideal ADC's codes of them), y = gain * y_model + offset, by least squares over the
   samples whose predicted value lies well inside the ADC range -- chosen by the model's value,
   not the chip's, so that the cut and the saturation do not bias the fit. The engine applies
   (y - offset) / gain digitally before the activation and the next layer (a ReLU layer's zero
   codes stay zero). This removes the column-to-column gain spread (each column's conductance
   load differs from its nominal one) and offsets that the conductance errors leave.

The chip's own quick method for V_read -- random +-1 inputs, V_read tuned until about half of the
binary outputs are +1 -- cancels neuron offsets; the neuron model here has no offset (an
assumption, see docs/accuracy.md), so the data-driven operating point above is used instead.

Everything is stored in the program's layer plans and saved with it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._checks import as_finite_array, check_int, check_range
from .._seeds import check_seed
from ..compiler.operating import block_mode
from ..compiler.plan import ProgramPlan, as_plan
from ..engines.batch import layer_rows, mvm_rows, run_stages
from ..physics.neuron import adc_levels, requantize

__all__ = ["calibrate", "calibrate_layer", "adc_usage", "fit_column_correction"]


def fit_column_correction(y_chip: np.ndarray, y_model: np.ndarray, valid: np.ndarray,
                          min_samples: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Per-column least-squares fit y_chip = gain * y_model + offset over the ``valid`` samples.

    Columns with fewer than ``min_samples`` valid samples, or with a fitted gain outside
    [0.25, 4] (a column that barely responds), keep gain 1 and offset 0.

    Returns
    -------
    gain, offset : ndarray (n_out,)
    """
    n_out = y_chip.shape[1]
    gain, offset = np.ones(n_out), np.zeros(n_out)
    for j in range(n_out):
        m = valid[:, j]
        if m.sum() < min_samples:
            continue
        xm, ym = y_model[m, j], y_chip[m, j]
        var = xm.var()
        if var <= 0:
            continue
        a = ((xm - xm.mean()) * (ym - ym.mean())).mean() / var
        if 0.25 <= a <= 4.0:
            gain[j], offset[j] = a, ym.mean() - a * xm.mean()
    return gain, offset


def adc_usage(program: Any, index: int, x: np.ndarray, in_bits: int = 4, out_bits: int = 4,
              seed: int | None = 0) -> dict:
    """How layer ``index``'s outputs use its neurons' ADC range for inputs x (the layer's own
    inputs).

    Returns
    -------
    dict
        ``saturated``: fraction of nonzero codes at full scale; ``p99``: the 99th percentile of
        |nonzero code| over full scale (near 1 uses the range; small wastes levels);
        ``zero``: fraction of zero codes.
    """
    program = as_plan(program)
    plan = program.plans[index]
    rows, _ = layer_rows(program, index, x, in_bits)
    mode, bits = block_mode(plan, out_bits)
    levels = adc_levels(bits, mode, program.chip.neuron)
    codes = mvm_rows(program, plan, rows, in_bits, out_bits,
                     program.chip.rng(check_seed(seed), f"adc usage {index}"), return_codes=True)
    mag = np.abs(codes).ravel()
    n = mag.size
    nz = mag[mag > 0]
    return {"saturated": float((nz >= levels).mean()) if nz.size else 0.0,
            "p99": float(np.percentile(nz, 99) / levels) if nz.size else 0.0,
            "zero": float(1 - nz.size / n)}


def _model_outputs(program, index, rows, in_bits):
    """What the layer's weights give for the quantised input rows (output units)."""
    plan, layer = program.plans[index], program.layers[index]
    M, b = layer.matrix()
    y = (rows.astype(np.float64) * (plan.x_max / (2 ** in_bits - 1))) @ M
    return y if b is None else y + b


def calibrate_layer(program: Any, index: int, x: np.ndarray, *, in_bits: int = 4,
                    out_bits: int = 4, head_bits: int | None = None, correction: bool = True,
                    adc_percentile: float = 99.5, max_rows: int = 20000,
                    seed: int | None = 0) -> dict:
    """Calibrate weighted layer ``index`` on x, its inputs as the chip delivers them (the output
    of the stages before it, measured on the chip). See :func:`calibrate`; returns its per-layer
    entry. Every random stream (subsampling, read noise) derives from the chip's seed and
    ``seed``."""
    program = as_plan(program)
    seed = check_seed(seed)
    plan = program.plans[index]
    if head_bits and index == len(program.plans) - 1:
        out_bits = head_bits
    rng = program.chip.rng(seed, f"calibration rows {index}")
    L = 2 ** in_bits - 1
    before = adc_usage(program, index, x, in_bits, out_bits, seed)
    rows, _ = layer_rows(program, index, x, in_bits)
    rows = rows[np.sort(rng.choice(len(rows), min(len(rows), max_rows), replace=False))]
    plan.calib_rows = (rows / L).astype(np.float32)
    plan.adc_percentile = float(adc_percentile)
    single = plan.n_rseg == 1 and plan.activation in ("relu", "linear")
    plan.adc_top = plan.out_top if (single and plan.activation == "relu") else None
    plan.gain = plan.offset = None
    plan.forget_operating_points()
    entry = {"layer": plan.name, "before": before}
    if correction:
        nonneg = plan.nonneg_input and bool(np.all(rows >= 0))
        y_chip = mvm_rows(program, plan, rows, in_bits, out_bits,
                          program.chip.rng(seed, f"calibration read {index}"), nonneg=nonneg)
        y_model = _model_outputs(program, index, rows, in_bits)
        if relu := single and plan.activation == "relu":
            # compare codes with codes: a line through the ideal ADC's codes of the model's
            # values has gain 1 exactly, one through the values themselves follows the staircase
            y_model = requantize(y_model, "relu", out_bits, plan.out_top, program.chip.neuron)
        top = np.abs(y_chip).max(axis=0, keepdims=True)           # full scale, output units
        # samples are picked by the model's value, never by the chip's: a window on the
        # measured codes (not cut, not saturated) would bias the fitted gain towards zero
        guess = np.ones_like(top), np.zeros_like(top)
        for margin in (0.25, 0.05):                  # a safe window, then one from the first fit
            pred = guess[0] * y_model + guess[1]
            lo = margin * top if relu else -(1 - margin) * top
            valid = (pred > lo) & (pred < (1 - margin) * top)
            gain, offset = fit_column_correction(y_chip, y_model, valid)
            guess = gain[None, :], offset[None, :]
        plan.gain, plan.offset = gain, offset
        entry["gain_min"] = float(plan.gain.min())
        entry["gain_max"] = float(plan.gain.max())
        entry["mean_abs_offset"] = float(np.abs(plan.offset).mean())
    entry["after"] = adc_usage(program, index, x, in_bits, out_bits, seed)
    return entry


def calibrate(program: Any, X: Any, *, in_bits: int = 4, out_bits: int = 4,
              head_bits: int | None = None, samples: int = 512, correction: bool = True,
              adc_percentile: float = 99.5, max_rows: int = 20000, seed: int | None = 0,
              log: Any = None) -> list[dict]:
    """Model-driven calibration of ``program`` on training samples X (see the module text).

    Parameters
    ----------
    program : ChipProgram
        A compiled flat Sequential network.
    X : array_like
        Training inputs, (n,) + input shape; ``samples`` of them are used.
    in_bits, out_bits, head_bits : int
        The bits the program will run at (see :meth:`ChipProgram.run`).
    correction : bool
        Also fit the per-column linear correction.
    adc_percentile : float
        Percentile of |integrated voltage| put at the ADC's top for blocks without a model range.
    max_rows : int
        At most this many MVM rows (patches) per layer for the fits.
    seed : int or None
        With the chip's seed, seeds every random stream of the calibration (subsampling, read
        noise): the same seed gives the same calibration whatever ran before. None: fresh.
    log : callable, optional
        Called with one line per layer.

    Returns
    -------
    list of dict
        Per layer: name, ADC usage before and after (:func:`adc_usage`), and the correction's
        gain range and mean |offset| when fitted.
    """
    program = as_plan(program)
    X = as_finite_array(X, "X")
    samples = check_int(samples, "samples", 1, 10**6)
    adc_percentile = check_range(adc_percentile, "adc_percentile", 0, 100, lo_open=True)
    seed = check_seed(seed)
    rng = program.chip.rng(seed, "calibration samples")
    x = X[np.sort(rng.choice(len(X), min(samples, len(X)), replace=False))]
    program.stages()                                   # checks the model is flat
    report = []
    for k, plan in enumerate(program.plans):
        entry = calibrate_layer(program, k, x, in_bits=in_bits, out_bits=out_bits,
                                head_bits=head_bits, correction=correction,
                                adc_percentile=adc_percentile,
                                max_rows=max_rows, seed=seed)
        report.append(entry)
        if log:
            log(_describe(entry))
        x = run_stages(program, x, k, k + 1, in_bits, out_bits,
                       program.chip.rng(seed, f"calibration stage {k}"))
    return report


def _describe(entry):
    a, b = entry["before"], entry["after"]
    text = (f"  {entry['layer']:<10s} ADC p99 {a['p99']:.2f} -> {b['p99']:.2f}, saturated "
            f"{a['saturated']:.3f} -> {b['saturated']:.3f}")
    if "gain_min" in entry:
        text += f", column gains {entry['gain_min']:.3f}..{entry['gain_max']:.3f}"
    return text
