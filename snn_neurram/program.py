"""A network compiled onto a chip: the batch engine that runs it, its report, its persistence.

The batch engine runs whole data sets through the mapped model, layer by layer:

1. the layer's input (values in its input units) is quantised once to ``in_bits`` magnitude bits
   over [-x_max, x_max] -- before im2col for a convolution, so padding is code 0;
2. every block of the layer runs its MVM on its rows of the codes (convolutions: one MVM per
   output pixel, as rows of the patch matrix) on the core that holds it, with every non-ideality
   of that core, through :meth:`snn_neurram.Core.mvm_codes`; replicas share the patches;
3. a layer of one row segment converts with the activation in the neurons; otherwise each block
   converts its partial sum linearly with ``out_bits + 1`` bits (a sign bit more), the partial
   sums are added digitally and the activation is applied digitally, requantised to ``out_bits``
   over [0, out_top] (relu) or [-out_top, out_top];
4. pooling, flattening and residual additions are digital (float) operations.

Inputs are processed in chunks (a progress bar shows for long runs).
"""

import sys

import numpy as np

from . import _kernels
from ._checks import as_finite_array, check_choice, check_int, check_range
from .compiler import BlockPlan, LayerPlan, Placement
from .layers import Conv2d, Dense, Residual, Sequential, activation_fn
from .mapping import weight_scale
from .neuron import adc_levels

__all__ = ["ChipProgram"]


class ChipProgram:
    """A model mapped onto a :class:`~snn_neurram.Chip` (made by :func:`snn_neurram.compile`).

    Attributes
    ----------
    model : Sequential
    chip : Chip
    plans : list of LayerPlan
        Per weighted layer: its tiling into blocks and where every block (and replica) lives.
    """

    def __init__(self, model, chip, plans, layers):
        self.model = model
        self.chip = chip
        self.plans = plans
        self.layers = layers
        self._ids = {id(l): k for k, l in enumerate(layers)}
        self._op_cache = {}

    # ------------------------------------------------------------------ calibration
    def calibrate(self, inputs, rng, percentile=99.5, max_rows=512):
        """Keep a sample of every layer's MVM inputs for the operating points.

        Up to ``max_rows`` input vectors of each layer (patches for a convolution), divided by
        the layer's x_max and clipped to [-1, 1], are stored with the plan; the operating point
        of a block for given bits is found from them (:meth:`operating_point`).
        """
        for plan in self.plans:
            layer = self.layers[plan.index]
            x = inputs[plan.index]
            rows = layer.patches(x)[0] if isinstance(layer, Conv2d) else x.reshape(len(x), -1)
            if len(rows) > max_rows:
                rows = rows[rng.choice(len(rows), max_rows, replace=False)]
            plan.calib_rows = np.clip(rows / plan.x_max, -1, 1).astype(np.float32)
            plan.adc_percentile = float(percentile)
        self._op_cache.clear()

    def operating_point(self, blk, plan, in_bits, out_bits):
        """NeuronConfig of a block for a run at (in_bits, out_bits).

        The calibration inputs are quantised to ``in_bits`` and split into integration phases as
        a run would; the ``adc_percentile``-th percentile of |V| per unit of V_read (largest over
        the phases, noise off, on the block's actual conductances) must reach the top of the ADC
        range (levels x adc_lsb, or the integrator swing if lower). V_read stays in 0.05-0.85 V;
        the pulse multiplier doubles where more is needed.
        """
        key = (id(blk), in_bits, out_bits)
        if key in self._op_cache:
            return self._op_cache[key]
        base = self.chip.neuron
        mode, bits = self._block_mode(plan, out_bits)
        top = min(adc_levels(bits, mode, base) * base.adc_lsb, base.v_swing)
        pl = blk.placements[0]
        core = self.chip.cores[pl.core]
        b = core.blocks[pl.block]
        L = 2 ** in_bits - 1
        single = len(core._phases(np.zeros((1, 1)), in_bits, base)) == 1
        if plan.adc_top is not None and plan.n_rseg == 1 and single:
            # model-driven: the output value adc_top sits at the top of the ADC for the median
            # column, on the columns' actual conductance loads (relaxed and faulty cells leave
            # them 3-30 % below the targets' sums; the nominal sums would saturate early)
            s_act = core.G[:, b.cols].sum(axis=0)
            per_volt = base.c_ratio * core.device.g_range / (plan.w_max * s_act)
            level = float(np.median(per_volt)) * plan.adc_top * L / plan.x_max
        else:
            level = self._calibration_level(core, b, blk, plan, in_bits, mode, base)
        need = top / level if level > 0 else 0.5
        mult = 1
        while need / mult > 0.85 and mult < 1024:
            mult *= 2
        cfg = base.replace(v_read=float(np.clip(need / mult, 0.05, 0.85)), pulse_multiplier=mult)
        self._op_cache[key] = cfg
        return cfg

    @staticmethod
    def _calibration_level(core, b, blk, plan, in_bits, mode, base):
        """adc_percentile-th percentile of the calibration rows' integrated voltage per volt of
        V_read (largest over the integration phases, noise off)."""
        cfg = base.replace(leak=0.0)
        A = core._arrays(b)["fwd_A"].astype(np.float64)
        L = 2 ** in_bits - 1
        q = np.clip(np.rint(plan.calib_rows[:, blk.r0:blk.r1].astype(np.float64) * L), -L, L)
        if blk.has_bias:
            q = np.hstack([q, np.full((len(q), b.n_bias_rows), float(L))])
        level = 0.0
        for _, _, qp, *_ in core._phases(q, in_bits, cfg):
            v = cfg.c_ratio * (qp @ A)
            stat = np.abs(v) if mode == "linear" else np.maximum(v, 0)
            level = max(level, float(np.percentile(stat, plan.adc_percentile)))
        return level

    @staticmethod
    def _block_mode(plan, out_bits):
        """ADC mode and bits of a layer's blocks: the activation in the neurons for one row
        segment, else linear partial sums with a sign bit more."""
        if plan.n_rseg == 1 and plan.activation in ("relu", "linear"):
            return plan.activation, out_bits
        return "linear", min(8, out_bits + 1)

    # ------------------------------------------------------------------ batch engine
    def run(self, x, mode="ann", in_bits=4, out_bits=4, *, head_bits=None, noise_model="output",
            chunk=None, progress=None, coding="rate", steps=64, readout="membrane", seed=0,
            record_raster=False):
        """Run a batch through the mapped model.

        Parameters
        ----------
        x : array_like
            Inputs, (batch,) + input shape.
        mode : {"ann", "snn"}
            Multi-bit (bit-serial, rate-coded in the chip's sense) inference through the ADCs, or
            the converted spiking network (:func:`snn_neurram.snn.run_snn`).
        in_bits, out_bits : int
            Bits of every layer's inputs and outputs, 1-8 (ANN mode).
        head_bits : int, optional
            Bits of the last weighted layer's outputs (the network's outputs, e.g. logits), when
            they should be read more finely than the hidden activations (default: out_bits).
        coding, steps, readout, seed, record_raster
            Spiking mode: input coding ("rate", "regular", "latency"), time steps, output
            readout ("membrane", "count"), encoder seed, keep the first input's spikes.
        noise_model : {"output", "device"}
            See :meth:`snn_neurram.Core.forward`.
        chunk : int, optional
            Inputs per chunk (default: about 64 MB of patches per layer).
        progress : bool, optional
            Show a progress bar (default: when the batch has more than 2000 inputs and standard
            error is a terminal).

        Returns
        -------
        ndarray or SNNResult
            ANN mode: the model's outputs, (batch,) + output shape. SNN mode: an
            :class:`~snn_neurram.snn.SNNResult` with predictions, spike counts per layer and the
            readout after every step.
        """
        check_choice(mode, "mode", ("ann", "snn"))
        if mode == "snn":
            from .snn import run_snn
            return run_snn(self, x, coding, steps, readout=readout, seed=seed,
                           noise_model=noise_model, record_raster=record_raster)
        in_bits = check_int(in_bits, "in_bits", 1, 8)
        out_bits = check_int(out_bits, "out_bits", 1, 8)
        head_bits = None if head_bits is None else check_int(head_bits, "head_bits", 1, 8)
        x = as_finite_array(x, "x")
        if x.ndim < 2:
            raise ValueError(f"x must have a batch axis: shape (batch, ...) (got {x.shape})")
        self.model.output_shape(tuple(x.shape[1:]))
        if chunk is None:
            per_input = max(p.n_in * p.mvms_per_input for p in self.plans) * 4
            chunk = int(np.clip(64e6 // per_input, 16, 4096))
        from tqdm.auto import tqdm

        show = (len(x) > 2000 and sys.stderr.isatty()) if progress is None else progress
        outs = []
        with tqdm(total=len(x), disable=not show, unit="input", desc="chip run",
                  leave=False) as bar:
            for start in range(0, len(x), chunk):
                xs = x[start:start + chunk].astype(np.float32)
                outs.append(self._run_node(self.model, xs, in_bits, out_bits, noise_model,
                                            head_bits))
                bar.update(len(xs))
        return np.concatenate(outs).astype(np.float64)

    def _run_node(self, node, x, in_bits, out_bits, noise_model, head_bits=None):
        if isinstance(node, (Dense, Conv2d)):
            return self._run_weighted(self.plans[self._ids[id(node)]], node, x, in_bits,
                                      out_bits, noise_model, head_bits)
        if isinstance(node, Sequential):
            for layer in node.layers:
                x = self._run_node(layer, x, in_bits, out_bits, noise_model, head_bits)
            return x
        if isinstance(node, Residual):
            s = x if node.shortcut is None else self._run_node(node.shortcut, x, in_bits,
                                                               out_bits, noise_model, head_bits)
            y = self._run_node(node.body, x, in_bits, out_bits, noise_model, head_bits)
            return activation_fn(node.activation, y + s, node.clip).astype(np.float32)
        return node.forward_float(x).astype(np.float32)

    def _run_weighted(self, plan, layer, x, in_bits, out_bits, noise_model, head_bits=None):
        if head_bits and plan.index == len(self.plans) - 1:
            out_bits = head_bits
        rows, hw = self.layer_rows(plan.index, x, in_bits)
        y = self._mvm_rows(plan, rows, in_bits, out_bits, noise_model,
                           plan.nonneg_input and bool(np.all(x >= 0)))
        single = plan.n_rseg == 1 and plan.activation in ("relu", "linear")
        if plan.gain is not None:
            if single and plan.activation == "relu":
                # a zero code says only "at or below the cut": it stays zero
                y = np.where(y > 0, np.maximum((y - plan.offset) / plan.gain, 0.0), 0.0)
            else:
                y = (y - plan.offset) / plan.gain
        if not single:
            y = self._digital_activation(plan, y, out_bits)
        if isinstance(layer, Conv2d):
            y = layer.fold(y, len(x), hw)
        return y.astype(np.float32)

    def layer_rows(self, index, x, in_bits):
        """Input codes of weighted layer ``index`` for its inputs x: one row per MVM (patches of
        a convolution), integers in [-(2**in_bits - 1), 2**in_bits - 1]; and the output size
        (H, W) of a convolution (None for a dense layer)."""
        plan, layer = self.plans[index], self.layers[index]
        dt = self.chip.cores[0].dtype
        levels = 2 ** in_bits - 1
        x = np.asarray(x, dtype=np.float32)
        q = np.empty(x.shape, dtype=dt)
        flat = np.ascontiguousarray(x.reshape(len(x), -1))
        _kernels.quantize(flat, levels / plan.x_max, levels, q.reshape(len(x), -1))
        if isinstance(layer, Conv2d):
            return layer.patches(q)
        return q.reshape(len(x), -1), None

    def _mvm_rows(self, plan, rows, in_bits, out_bits, noise_model, nonneg):
        """The layer's outputs per row as the neurons' ADCs give them (single row segment: the
        activation applied) or as the sum of the blocks' partial sums, before any correction."""
        mode, bits = self._block_mode(plan, out_bits)
        y = np.zeros((len(rows), plan.n_out), dtype=np.float64)
        for blk in plan.blocks:
            cfg = self.operating_point(blk, plan, in_bits, out_bits)
            part = rows[:, blk.r0:blk.r1]
            reps = blk.placements
            bounds = np.linspace(0, len(part), len(reps) + 1).astype(int)
            for pl, a, b in zip(reps, bounds[:-1], bounds[1:]):
                if a == b:
                    continue
                core = self.chip.cores[pl.core]
                core.blocks[pl.block].neuron = cfg
                y[a:b, blk.c0:blk.c1] += core.mvm_codes(part[a:b], in_bits, bits, mode,
                                                        block=pl.block, noise_model=noise_model,
                                                        nonneg=nonneg)
        return y

    @staticmethod
    def _digital_activation(plan, y, out_bits):
        """Activation of added partial sums, requantised to out_bits over the layer's range."""
        if plan.activation == "linear":
            return y
        if plan.activation == "relu":
            L = 2 ** out_bits - 1
            return np.clip(np.floor(y / plan.out_top * L + 0.5), 0, L) * (plan.out_top / L)
        f = activation_fn(plan.activation, y)
        L = 2 ** out_bits - 1 if plan.activation == "sigmoid" else 2 ** (out_bits - 1)
        return np.round(f * L) / L

    def stages(self):
        """The model's top-level layers grouped per weighted layer: stage k holds weighted layer
        k and the pooling / flattening layers after it (stage 0 also the layers before it).

        Only for a flat :class:`Sequential` (no residual blocks): partial runs and
        chip-in-the-loop fine-tuning work stage by stage.
        """
        if not isinstance(self.model, Sequential) or any(
                isinstance(l, (Residual, Sequential)) for l in self.model.layers):
            raise ValueError("stage-wise runs need a flat Sequential model (no residual blocks)")
        groups, current = [], []
        for layer in self.model.layers:
            if isinstance(layer, (Dense, Conv2d)) and any(
                    isinstance(l, (Dense, Conv2d)) for l in current):
                groups.append(current)
                current = []
            current.append(layer)
        groups.append(current)
        return groups

    def run_stages(self, x, start=0, stop=None, in_bits=4, out_bits=4, *, head_bits=None,
                   noise_model="output", chunk=None):
        """Run stages ``start``..``stop - 1`` (see :meth:`stages`) on the chip.

        ``x`` is the input of stage ``start``: the network's input for 0, else the output of stage
        start - 1 (as :meth:`run_stages` measured it, or from software). Returns the output of
        stage stop - 1 (the network's output for stop=None). Bits as in :meth:`run`.
        """
        groups = self.stages()
        stop = len(groups) if stop is None else stop
        if not 0 <= start < stop <= len(groups):
            raise ValueError(f"need 0 <= start < stop <= {len(groups)} (got start={start}, "
                             f"stop={stop})")
        in_bits = check_int(in_bits, "in_bits", 1, 8)
        out_bits = check_int(out_bits, "out_bits", 1, 8)
        x = as_finite_array(x, "x")
        chunk = chunk or 2048
        outs = []
        for c in range(0, len(x), chunk):
            y = x[c:c + chunk].astype(np.float32)
            for group in groups[start:stop]:
                for layer in group:
                    y = self._run_node(layer, y, in_bits, out_bits, noise_model, head_bits)
            outs.append(y)
        return np.concatenate(outs).astype(np.float64)

    def reprogram_layer(self, index, W, b=None, *, x_max=None, clip=None):
        """Write new weights for weighted layer ``index`` into its cells (every block and
        replica, by write-verify; the other cells of the cores stay as they are).

        W and b have the layer's own shapes (Dense (in, out); Conv2d (out, in, kh, kw)); w_max
        follows the new weights. ``x_max`` (the layer's input range) and ``clip`` (its ReLU's
        range) change with them when given. The layer's per-column correction is dropped (it
        described the old cells) and its operating points are found again; calibrate the layer
        afterwards (:func:`snn_neurram.calibration.calibrate_layer`) for the model-driven ones.
        """
        plan, layer = self.plans[index], self.layers[index]
        W = as_finite_array(W, "W", shape=layer.W.shape)
        if (b is None) != (layer.b is None):
            raise ValueError("b must be given exactly when the layer has a bias")
        layer.W = W
        if b is not None:
            layer.b = as_finite_array(b, "b", ndim=1, shape=layer.b.shape)
        if x_max is not None:
            old = plan.x_max
            plan.x_max = layer.x_max = check_range(x_max, "x_max", 0, None, lo_open=True)
            if plan.calib_rows is not None:
                plan.calib_rows = np.clip(plan.calib_rows * (old / plan.x_max), -1, 1)
        if clip is not None:
            layer.clip = check_range(clip, "clip", 0, None, lo_open=True)
            if plan.activation == "relu":
                plan.out_top = layer.clip
                if plan.adc_top is not None:
                    plan.adc_top = layer.clip
        M, bias = layer.matrix()
        plan.w_max = weight_scale(M, self.chip.percentile)
        for blk in plan.blocks:
            for pl in blk.placements:
                self.chip.cores[pl.core].reprogram_block(
                    pl.block, M[blk.r0:blk.r1, blk.c0:blk.c1],
                    None if not blk.has_bias else bias[blk.c0:blk.c1], w_max=plan.w_max,
                    x_max=plan.x_max)
        plan.gain = plan.offset = None
        self._op_cache.clear()

    def run_float(self, x):
        """The float model (software reference) on the same inputs."""
        return self.model.forward_float(as_finite_array(x, "x"))

    # ------------------------------------------------------------------ report
    def report(self, figure=None, energy=True, in_bits=4, out_bits=4, energy_model=None):
        """Where every weight lives, per layer and per core, and what an inference costs.

        Parameters
        ----------
        figure : str, optional
            Also write a picture of the 8 x 6 core grid (PNG) showing which layer occupies which
            part of which core.
        energy : bool
            Add the energy and latency account of one inference at (in_bits, out_bits) under
            ``"energy"`` (see :func:`snn_neurram.energy.program_account`).
        in_bits, out_bits : int
        energy_model : EnergyModel, optional

        Returns
        -------
        dict
            ``layers`` (per layer: matrix shape, row/column segments, blocks, replicas, cores,
            rows and columns used, cells used, utilisation of its cores), ``cores`` (per core:
            layers, blocks, cells used, utilisation), and chip totals.
        """
        cells_per_core = 128 * 256
        core_cells = np.zeros(self.chip.n_cores, dtype=np.int64)
        core_layers = [set() for _ in range(self.chip.n_cores)]
        core_blocks = np.zeros(self.chip.n_cores, dtype=np.int64)
        layers = []
        for p in self.plans:
            cores = sorted({pl.core for b in p.blocks for pl in b.placements})
            cells = sum(b.shape[0] * b.shape[1] for b in p.blocks)
            replicas = len(p.blocks[0].placements)
            for b in p.blocks:
                for pl in b.placements:
                    core_cells[pl.core] += b.shape[0] * b.shape[1]
                    core_layers[pl.core].add(p.index)
                    core_blocks[pl.core] += 1
            layers.append({
                "index": p.index, "name": p.name, "kind": p.kind,
                "matrix": [p.n_in, p.n_out], "activation": p.activation,
                "row_segments": p.n_rseg, "column_segments": p.n_cseg,
                "blocks": len(p.blocks), "replicas": replicas, "mappings": len(p.blocks) * replicas,
                "cores": cores,
                "row_pairs_used": sum(b.pairs for b in p.blocks if b.cseg == 0),
                "columns_used": p.n_out,
                "cells_used": cells * replicas,
                "utilisation_of_its_cores": cells * replicas / (len(cores) * cells_per_core),
                "mvms_per_input": p.mvms_per_input, "x_max": p.x_max, "w_max": p.w_max,
            })
        used = [c for c in range(self.chip.n_cores) if core_blocks[c]]
        cores = [{"core": c, "grid": list(self.chip.grid_position(c)),
                  "layers": sorted(core_layers[c]), "blocks": int(core_blocks[c]),
                  "cells_used": int(core_cells[c]),
                  "utilisation": float(core_cells[c] / cells_per_core)} for c in used]
        rep = {
            "cores_used": len(used), "cores_available": self.chip.n_cores,
            "mappings": int(core_blocks.sum()),
            "weights": int(sum(p.n_in * p.n_out for p in self.plans)),
            "utilisation_of_used_cores": float(core_cells[used].sum() /
                                               (len(used) * cells_per_core)),
            "layers": layers, "cores": cores,
        }
        if energy:
            from .energy import program_account
            rep["energy"] = program_account(self, in_bits, out_bits, energy_model)
        if figure is not None:
            from .plotting import core_grid_figure
            rep["figure"] = core_grid_figure(self, figure)
        return rep

    def report_text(self, rep=None):
        """The report as an aligned text table."""
        rep = self.report() if rep is None else rep
        lines = [f"{'layer':<14s}{'matrix':>11s}{'segs':>7s}{'blocks':>8s}{'repl':>6s}"
                 f"{'cores':>7s}{'rows':>6s}{'cols':>6s}{'util':>7s}  cores"]
        for L in rep["layers"]:
            lines.append(
                f"{L['name'][:13]:<14s}{L['matrix'][0]:>5d}x{L['matrix'][1]:<5d}"
                f"{L['row_segments']:>3d}x{L['column_segments']:<3d}{L['blocks']:>8d}"
                f"{L['replicas']:>6d}{len(L['cores']):>7d}{L['row_pairs_used']:>6d}"
                f"{L['columns_used']:>6d}{100 * L['utilisation_of_its_cores']:>6.1f}%  "
                f"{','.join(map(str, L['cores']))}")
        lines.append(f"{rep['cores_used']} of {rep['cores_available']} cores, "
                     f"{rep['mappings']} mappings, {rep['weights']:,} weights, "
                     f"{100 * rep['utilisation_of_used_cores']:.1f} % of the used cores' cells")
        return "\n".join(lines)

    @staticmethod
    def energy_text(acc):
        """An energy account (:func:`snn_neurram.energy.program_account`) as a text table."""
        comps = list(acc["energy_by_component_j"])
        head = "".join(f"{c[:10]:>11s}" for c in comps)
        lines = [f"energy per inference (nJ) and latency, {acc['in_bits']}-bit inputs, "
                 f"{acc['out_bits']}-bit outputs",
                 f"{'layer':<12s}{'MVMs':>7s}{head}{'total':>10s}{'latency':>11s}"]
        for L in acc["layers"]:
            cells = "".join(f"{1e9 * L['energy_by_component_j'][c]:>11.2f}" for c in comps)
            lines.append(f"{L['name'][:11]:<12s}{L['mvms']:>7d}{cells}"
                         f"{1e9 * L['energy_j']:>10.2f}{1e6 * L['latency_s']:>9.1f} us")
        tot = "".join(f"{1e9 * acc['energy_by_component_j'][c]:>11.2f}" for c in comps)
        lines.append(f"{'total':<12s}{'':>7s}{tot}{1e9 * acc['energy_per_inference_j']:>10.2f}"
                     f"{1e6 * acc['latency_per_inference_s']:>9.1f} us")
        lines.append(f"{acc['macs_per_inference']:,} MACs per inference: "
                     f"{acc['tops']:.4f} TOPS in sequence, {acc['tops_pipelined']:.4f} TOPS "
                     f"pipelined ({acc['inferences_per_s_pipelined']:,.0f} inferences/s), "
                     f"{acc['tops_per_w']:.2f} TOPS/W, EDP {acc['edp_js']:.3e} J s")
        return "\n".join(lines)

    # ------------------------------------------------------------------ persistence
    def save(self, path):
        """Save the programmed conductances, calibration, configuration and random states.

        The file is versioned and checksummed and written atomically; see :func:`snn_neurram.load`.
        """
        from .persist import save_program
        save_program(self, path)
