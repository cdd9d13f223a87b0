"""Model-driven calibration of a compiled network, layer by layer on the chip, that never makes
a layer worse.

The compiler sets every block's operating point from the *float* model's activations on whatever
calibration inputs it was given (random ones when none). Calibration redoes this with what the
chip actually sees, one layer after the other, on samples of the training data. For layer k:

1. Its inputs are the chip's own outputs of layers 0..k-1 (already calibrated). They are split
   by input image into a *fit* half and a *held-out* half.
2. Candidates are built on the fit half:

   - ``operating point``: a layer whose ReLU runs in the neurons puts the model's output range
     (its clip) at the top of the ADC (median column, on the columns' conductance sums as
     programmed); other blocks put the ``adc_percentile``-th percentile of the chip's integrated
     voltage at the top;
   - ``column fit``: plus a per-column correction y <- (y - offset) / gain, fitted to the ADC
     codes the neurons give (:func:`~snn_neurram.analysis.column_fit.fit_adc_codes`: an interval
     likelihood that knows the ReLU's cut and the ADC's saturation, robust to outliers, with a
     prior toward gain 1 and offset 0);
   - ``read-back``: the same correction computed from the conductances read back from the
     programmed cells (the linear map the array computes, each column's actual load included),
     without any ADC measurement.

3. Every candidate, and the layer as compiled (``as compiled``), is scored on the held-out half
   with the same read-noise draw (a paired comparison): the mean squared difference, in output
   steps, between what the next layer receives from the chip and what it receives in the
   quantised model. With ``gate`` (default) the best one is kept -- so the layer's held-out
   agreement never gets worse -- and the report says which and why.
4. With labels, a validation split is carved out of the data (or given): a layer's change is
   undone when the network's validation accuracy on the chip drops significantly (McNemar's
   test on the same images), and the whole calibration is undone when the calibrated network
   ends below the uncalibrated one on that split.

The corrections are applied digitally after the neurons (a ReLU layer's zero codes stay zero).
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
from ..compiler.native import is_native
from ..compiler.operating import block_mode, operating_point
from ..compiler.plan import LayerPlan, ProgramPlan, as_plan
from ..compiler.tiling import reprogram_bias
from ..engines.batch import (apply_correction, digital_activation, layer_rows, mvm_rows, run_ann,
                             run_stages)
from ..physics.neuron import adc_levels, phases, requantize
from .column_fit import GAIN_BOUNDS, fit_adc_codes, fit_huber, fit_lines

__all__ = ["calibrate", "calibrate_layer", "adc_usage", "layer_disagreement",
           "significantly_worse", "CANDIDATES"]

#: The corrections calibration can choose for a layer, in the order they are tried (with
#: ``analog_offset``, also "bias rows" alone and followed by each of the two fits).
CANDIDATES = ("as compiled", "operating point", "column fit", "read-back", "bias rows",
              "bias rows + column fit", "bias rows + read-back")
_STATE = ("calib_rows", "adc_percentile", "adc_top", "gain", "offset")


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


def _model_outputs(program: ProgramPlan, index: int, rows: np.ndarray, in_bits: int) -> np.ndarray:
    """What the layer's weights give for the quantised input rows (output units)."""
    plan, layer = program.plans[index], program.layers[index]
    M, b = layer.matrix()
    y = (rows.astype(np.float64) * (plan.x_max / (2 ** in_bits - 1))) @ M
    return y if b is None else y + b


def _received(program: ProgramPlan, plan: LayerPlan, y: np.ndarray, out_bits: int) -> np.ndarray:
    """Layer outputs (output units, after the correction) as the next layer receives them."""
    if plan.activation == "relu":
        return requantize(y, "relu", out_bits, plan.out_top, program.chip.neuron)
    return y


def layer_disagreement(program: Any, index: int, rows: np.ndarray, in_bits: int, out_bits: int,
                       rng: np.random.Generator) -> float:
    """Mean squared difference between what the next layer receives from weighted layer
    ``index`` on the chip and in the quantised model, for input code rows ``rows``.

    In units of the layer's output step (its clip / (2**out_bits - 1)) for a ReLU layer, of the
    model outputs' standard deviation otherwise.
    """
    program = as_plan(program)
    plan = program.plans[index]
    nonneg = plan.nonneg_input and bool(np.all(rows >= 0))
    y = apply_correction(plan, mvm_rows(program, plan, rows, in_bits, out_bits, rng,
                                        nonneg=nonneg))
    if not plan.single_segment:
        y = digital_activation(program, plan, y, out_bits)
    t = _model_outputs(program, index, rows, in_bits)
    if plan.activation == "relu":
        step = plan.out_top / (2 ** out_bits - 1)
    else:
        step = float(np.std(t)) or 1.0
    diff = _received(program, plan, y, out_bits) - _received(program, plan, t, out_bits)
    return float(np.mean(diff ** 2) / step ** 2)


def _state(plan: LayerPlan) -> dict[str, Any]:
    return {k: getattr(plan, k) for k in _STATE}


def _compiled_state(plan: LayerPlan) -> dict[str, Any]:
    """The layer's calibration as the compiler left it (its state now when unknown)."""
    if plan.compiled_rows is None:
        return _state(plan)
    return {"calib_rows": plan.compiled_rows, "adc_percentile": plan.compiled_percentile,
            "adc_top": None, "gain": None, "offset": None}


def _restore(plan: LayerPlan, state: dict[str, Any]) -> None:
    for k, v in state.items():
        setattr(plan, k, v)
    plan.forget_operating_points()


def _bounded(gain: np.ndarray, offset: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Columns whose gain is outside GAIN_BOUNDS (they barely respond) stay uncorrected."""
    ok = (gain >= GAIN_BOUNDS[0]) & (gain <= GAIN_BOUNDS[1])
    return np.where(ok, gain, 1.0), np.where(ok, offset, 0.0)


def _readback_map(program: ProgramPlan, plan: LayerPlan) -> tuple[np.ndarray, np.ndarray]:
    """The layer's matrix and bias as the programmed cells compute them (first copy of every
    block), read back from the conductances."""
    F = np.zeros((plan.n_in, plan.n_out))
    fb = np.zeros(plan.n_out)
    for blk in plan.blocks:
        pl = blk.placements[0]
        m, bias = program.chip.cores[pl.core].forward_matrix(pl.block)
        F[blk.r0:blk.r1, blk.c0:blk.c1] += m
        if bias is not None:
            fb[blk.c0:blk.c1] += bias
    return F, fb


def _column_units(program: ProgramPlan, plan: LayerPlan, in_bits: int,
                  out_bits: int) -> np.ndarray:
    """Output units per ADC step of every column (first copy of each block)."""
    unit = np.empty(plan.n_out)
    for blk in plan.blocks:
        pl = blk.placements[0]
        cfg = operating_point(program, blk, plan, in_bits, out_bits)
        unit[blk.c0:blk.c1] = program.chip.cores[pl.core].output_unit(
            in_bits, "forward", block=pl.block, neuron=cfg)
    return unit


def _corrections(program: ProgramPlan, index: int, rows: np.ndarray, in_bits: int,
                 out_bits: int, rng: np.random.Generator) -> dict[str, tuple[np.ndarray,
                                                                             np.ndarray]]:
    """The candidate per-column corrections (gain, offset in output units) on fit rows."""
    plan = program.plans[index]
    t = _model_outputs(program, index, rows, in_bits)
    F, fb = _readback_map(program, plan)
    t_chip = (rows.astype(np.float64) * (plan.x_max / (2 ** in_bits - 1))) @ F + fb
    mode, bits = block_mode(plan, out_bits)
    nonneg = plan.nonneg_input and bool(np.all(rows >= 0))
    single = plan.single_segment and len(phases(in_bits, program.chip.neuron)) == 1
    if single:
        codes = mvm_rows(program, plan, rows, in_bits, out_bits, rng, nonneg=nonneg,
                         return_codes=True)
        unit = _column_units(program, plan, in_bits, out_bits)
        levels = adc_levels(bits, mode, program.chip.neuron)
        gain, offset, _ = fit_adc_codes(codes, t / unit, mode, levels)
        fitted = gain, offset * unit
    else:
        y = mvm_rows(program, plan, rows, in_bits, out_bits, rng, nonneg=nonneg)
        fitted = fit_huber(y, t)
    return {"column fit": _bounded(*fitted), "read-back": _bounded(*fit_lines(t_chip, t))}


def calibrate_layer(program: Any, index: int, x: np.ndarray, *, in_bits: int = 4,
                    out_bits: int = 4, head_bits: int | None = None, correction: bool = True,
                    gate: bool = True, analog_offset: bool = False, holdout: float = 0.5,
                    adc_percentile: float = 99.5, max_rows: int = 12000,
                    seed: int | None = 0) -> dict:
    """Calibrate weighted layer ``index`` on x, its inputs as the chip delivers them (the output
    of the stages before it, measured on the chip). See the module text and :func:`calibrate`;
    returns its per-layer entry. Every random stream (split, subsampling, read noise) derives
    from the chip's seed and ``seed``."""
    program = as_plan(program)
    seed = check_seed(seed)
    holdout = check_range(holdout, "holdout", 0.0, 1.0, lo_open=True, hi_open=True)
    plan = program.plans[index]
    if head_bits and index == len(program.plans) - 1:
        out_bits = head_bits
    rng = program.chip.rng(seed, f"calibration rows {index}")
    L = 2 ** in_bits - 1
    before = adc_usage(program, index, x, in_bits, out_bits, seed)
    order = rng.permutation(len(x))
    n_hold = int(round(holdout * len(x))) if gate and len(x) > 1 else 0
    n_hold = min(max(n_hold, 1 if gate and len(x) > 1 else 0), len(x) - 1)

    def rows_of(images, n_max):
        rows, _ = layer_rows(program, index, x[np.sort(images)], in_bits)
        if len(rows) > n_max:
            rows = rows[np.sort(rng.choice(len(rows), n_max, replace=False))]
        return rows

    fit_rows = rows_of(order[n_hold:], max_rows)
    hold_rows = rows_of(order[:n_hold], max_rows // 2) if n_hold else None

    def score():
        if hold_rows is None:
            return None
        return layer_disagreement(program, index, hold_rows, in_bits, out_bits,
                                  program.chip.rng(seed, f"calibration held-out {index}"))

    # the baseline is the layer as compiled, not whatever an earlier calibration left: the
    # same call gives the same calibration whatever ran before
    _restore(plan, _compiled_state(plan))
    candidates: dict[str, tuple[float | None, dict[str, Any]]] = {
        "as compiled": (score(), _state(plan))}
    plan.calib_rows = (fit_rows / L).astype(np.float32)
    plan.adc_percentile = float(adc_percentile)
    plan.adc_top = plan.out_top if (plan.single_segment and plan.activation == "relu") else None
    plan.gain = plan.offset = None
    plan.forget_operating_points()
    candidates["operating point"] = (score(), _state(plan))
    if correction and plan.activation in ("relu", "linear"):
        fits = _corrections(program, index, fit_rows, in_bits, out_bits,
                            program.chip.rng(seed, f"calibration read {index}"))
        for name, (gain, offset) in fits.items():
            plan.gain, plan.offset = gain, offset
            candidates[name] = (score(), _state(plan))
    if gate:
        scores = {k: float(v[0]) for k, v in candidates.items() if v[0] is not None}
        chosen = min(scores, key=scores.__getitem__) if scores else "as compiled"
        base = scores.get("as compiled", float("nan"))
        reason = (f"lowest held-out disagreement ({scores.get(chosen, base):.4g} against "
                  f"{base:.4g} as compiled)" if chosen != "as compiled" else
                  f"no candidate agrees better with the model than the layer as compiled "
                  f"({base:.4g})")
    else:
        chosen = "column fit" if "column fit" in candidates else "operating point"
        reason = "applied without a held-out check (gate=False)"
    _restore(plan, candidates[chosen][1])
    if (analog_offset and gate and plan.gain is not None and hold_rows is not None
            and program.layers[index].b is not None):
        old = np.zeros(plan.n_out) if plan.bias_shift is None else plan.bias_shift
        best = float(candidates[chosen][0] or 0.0)
        # the fitted offset moves into the bias rows: y = g t + c becomes g (t - c / g) + c
        reprogram_bias(program, index, old - plan.offset / plan.gain,
                       program.chip.rng(seed, f"bias rows {index}"))
        plan.gain = plan.offset = None
        plan.forget_operating_points()
        trial = {"bias rows": (score(), _state(plan))}
        for name, (gain, offset) in _corrections(
                program, index, fit_rows, in_bits, out_bits,
                program.chip.rng(seed, f"calibration read bias rows {index}")).items():
            plan.gain, plan.offset = gain, offset
            trial[f"bias rows + {name}"] = (score(), _state(plan))
        tried = {k: float(v[0] if v[0] is not None else np.inf) for k, v in trial.items()}
        top = min(tried, key=tried.__getitem__)
        candidates.update(trial)
        if tried[top] < best:
            chosen = top
            reason += f"; offsets moved into the bias rows: {tried[top]:.4g} held out"
            _restore(plan, trial[top][1])
        else:
            # a chip cannot un-write cells: the old bias is written again (a new write), and
            # the correction chosen before is fitted again on the cells as they now are
            reprogram_bias(program, index, old, program.chip.rng(seed, f"bias rows back {index}"))
            plan.gain = plan.offset = None
            plan.forget_operating_points()
            if chosen in ("column fit", "read-back"):
                plan.gain, plan.offset = _corrections(
                    program, index, fit_rows, in_bits, out_bits,
                    program.chip.rng(seed, f"calibration read {index}"))[chosen]
            reason += (f"; moving the offsets into the bias rows did not help "
                       f"({tried[top]:.4g} held out): the bias was written back")
    entry: dict[str, Any] = {
        "layer": plan.name, "before": before, "accepted": chosen, "reason": reason,
        "held_out_disagreement": {k: v[0] for k, v in candidates.items()}}
    if plan.bias_shift is not None:
        entry["mean_abs_bias_shift"] = float(np.abs(plan.bias_shift).mean())
    for name in ("column fit", "read-back"):
        if name in candidates:
            g = candidates[name][1]["gain"]
            entry[f"{name} gains"] = [float(g.min()), float(g.max())]
    if plan.gain is not None:
        entry["gain_min"] = float(plan.gain.min())
        entry["gain_max"] = float(plan.gain.max())
        entry["mean_abs_offset"] = float(np.abs(plan.offset).mean())
    entry["after"] = adc_usage(program, index, x, in_bits, out_bits, seed)
    return entry


def calibrate(program: Any, X: Any, y: Any = None, *, in_bits: int = 4, out_bits: int = 4,
              head_bits: int | None = None, samples: int = 512, correction: bool = True,
              gate: bool = True, analog_offset: bool = False,
              validation: int | tuple[Any, Any] | None = None,
              adc_percentile: float = 99.5, max_rows: int = 12000, seed: int | None = 0,
              log: Any = None) -> list[dict]:
    """Model-driven calibration of ``program`` on training samples X (see the module text).

    Parameters
    ----------
    program : ChipProgram
        A compiled flat Sequential network.
    X : array_like
        Training inputs, (n,) + input shape; ``samples`` of them are used.
    y : array_like, optional
        Labels of X. With them (and ``gate``), a layer's change is undone when the chip's
        accuracy on a validation split drops significantly, and the whole calibration when the
        network ends below where it started on that split.
    in_bits, out_bits, head_bits : int
        The bits the program will run at (see :meth:`ChipProgram.run`).
    correction : bool
        Also try the per-column corrections (fitted to the ADC codes, and read back from the
        cells).
    gate : bool
        Keep, per layer, the candidate that agrees best with the model on held-out samples
        (the layer as compiled included). False: apply the operating point and the fitted
        column correction unconditionally.
    analog_offset : bool
        Also try moving each layer's fitted offsets into its bias rows (a rewrite of the bias
        cells only, so that the offset is removed before the neurons' ReLU cut rather than
        after it), kept when the held-out agreement improves; otherwise the old bias is written
        back. This writes cells: calibrating the program again starts from them.
    validation : int or (X_val, y_val), optional
        With ``y``: the number of images of X carved out for the validation split (never used
        for fitting; default min(1000, len(X) // 5)), or a split of your own. Give images the
        network was not trained on: on its own training images a network that fits them is
        right almost always, and the gate then sees nothing.
    adc_percentile : float
        Percentile of |integrated voltage| put at the ADC's top for blocks without a model range.
    max_rows : int
        At most this many MVM rows (patches) per layer for the fits.
    seed : int or None
        With the chip's seed, seeds every random stream of the calibration (subsampling, split,
        read noise): the same seed gives the same calibration whatever ran before. None: fresh.
    log : callable, optional
        Called with one line per layer.

    Returns
    -------
    list of dict
        Per layer: name, ADC usage before and after (:func:`adc_usage`), the held-out
        disagreement of every candidate, the one ``accepted`` and the ``reason``, the fitted
        gain ranges, and with labels the validation accuracy before and after the layer.
    """
    program = as_plan(program)
    if is_native(program.model):
        raise ValueError("calibrate() tunes the ADCs of ANN mode; a native spiking network's "
                         "thresholds are set by the compiler (docs/snn.md)")
    X = as_finite_array(X, "X")
    samples = check_int(samples, "samples", 1, 10**6)
    adc_percentile = check_range(adc_percentile, "adc_percentile", 0, 100, lo_open=True)
    max_rows = check_int(max_rows, "max_rows", 16, 10**7)
    seed = check_seed(seed)
    rng = program.chip.rng(seed, "calibration samples")
    X_val = y_val = None
    if y is not None:
        y = np.asarray(y)
        if y.ndim != 1 or len(y) != len(X):
            raise ValueError(f"y must hold one label per row of X (got X {X.shape}, y {y.shape})")
        if isinstance(validation, tuple):
            X_val = as_finite_array(validation[0], "validation[0]")
            y_val = np.asarray(validation[1])
            if len(y_val) != len(X_val):
                raise ValueError("validation must be (X_val, y_val) with one label per row")
        else:
            n_val = (min(1000, len(X) // 5) if validation is None else
                     check_int(validation, "validation", 1, len(X) - 1))
            if n_val:
                perm = rng.permutation(len(X))
                X_val, y_val = X[np.sort(perm[:n_val])], y[np.sort(perm[:n_val])]
                X = X[np.sort(perm[n_val:])]
    elif validation is not None:
        raise ValueError("validation needs the labels y")
    x = X[np.sort(rng.choice(len(X), min(samples, len(X)), replace=False))]
    program.stages()                                   # checks the model is flat

    def correct():
        out = run_ann(program, X_val, in_bits, out_bits,
                      program.chip.rng(seed, "calibration validation"), head_bits=head_bits,
                      progress=False)
        return out.argmax(axis=1) == y_val

    checked = gate and X_val is not None
    for plan in program.plans:
        _restore(plan, _compiled_state(plan))
    start = [_state(p) for p in program.plans]
    shifts = [p.bias_shift for p in program.plans]
    first = hits = correct() if checked else None
    report = []
    for k, plan in enumerate(program.plans):
        state, shift = _state(plan), plan.bias_shift
        entry = calibrate_layer(program, k, x, in_bits=in_bits, out_bits=out_bits,
                                head_bits=head_bits, correction=correction, gate=gate,
                                analog_offset=analog_offset,
                                adc_percentile=adc_percentile, max_rows=max_rows, seed=seed)
        if hits is not None and entry["accepted"] != "as compiled":
            new = correct()
            entry["validation_accuracy"] = [float(hits.mean()), float(new.mean())]
            if significantly_worse(hits, new):
                _unwrite_bias(program, k, shift, seed)
                _restore(plan, state)
                entry["reason"] += ("; rejected: validation accuracy {:.4f} -> {:.4f} on {} "
                                    "images, a significant drop".format(
                                        hits.mean(), new.mean(), len(new)))
                entry["accepted"] = "as compiled"
                for key in ("gain_min", "gain_max", "mean_abs_offset"):
                    entry.pop(key, None)
            else:
                hits = new
        report.append(entry)
        if log:
            log(_describe(entry))
        x = run_stages(program, x, k, k + 1, in_bits, out_bits,
                       program.chip.rng(seed, f"calibration stage {k}"), head_bits=head_bits)
    if first is not None and hits is not None and hits.mean() < first.mean():
        # the network as a whole came out below where it started: undo everything
        for k, (plan, state) in enumerate(zip(program.plans, start)):
            _unwrite_bias(program, k, shifts[k], seed)
            _restore(plan, state)
        for entry in report:
            entry["accepted"] = "as compiled"
            entry["reason"] += ("; undone: the calibrated network's validation accuracy "
                                f"{hits.mean():.4f} is below the uncalibrated {first.mean():.4f}")
    return report


def _unwrite_bias(program: ProgramPlan, index: int, shift: Any, seed: int | None) -> None:
    """Write the bias rows back to ``shift`` when calibration moved them (a new write)."""
    now = program.plans[index].bias_shift
    if (now is None) == (shift is None) and (now is None or np.array_equal(now, shift)):
        return
    reprogram_bias(program, index, np.zeros(program.plans[index].n_out) if shift is None
                   else shift, program.chip.rng(seed, f"bias rows undo {index}"))


def significantly_worse(before: np.ndarray, after: np.ndarray, z: float = 2.0) -> bool:
    """True when per-image correctness ``after`` is worse than ``before`` (the same images)
    beyond chance: of the images whose outcome changed, those lost exceed those gained by more
    than ``z`` standard deviations (McNemar's test, normal approximation)."""
    before, after = np.asarray(before, bool), np.asarray(after, bool)
    lost = int(np.sum(before & ~after))
    gained = int(np.sum(~before & after))
    return lost - gained > z * np.sqrt(max(lost + gained, 1))


def _describe(entry):
    a, b = entry["before"], entry["after"]
    text = (f"  {entry['layer']:<10s} {entry['accepted']:<15s} ADC p99 {a['p99']:.2f} -> "
            f"{b['p99']:.2f}, saturated {a['saturated']:.3f} -> {b['saturated']:.3f}")
    if "gain_min" in entry:
        text += f", column gains {entry['gain_min']:.3f}..{entry['gain_max']:.3f}"
    if "validation_accuracy" in entry:
        text += ", validation {:.4f} -> {:.4f}".format(*entry["validation_accuracy"])
    return text
