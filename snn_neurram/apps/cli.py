"""The ``snn-neurram`` command line. Every subcommand that reports numbers takes ``--json PATH``."""

from __future__ import annotations

import argparse
import sys

from .._io import write_json

__all__ = ["main"]


def _fmt_pct(x):
    return f"{100 * x:6.2f} %"


def _print_demo(r):
    acc = r["accuracy"]
    print("snn_neurram demo: 8x8 digits through one simulated NeuRRAM core")
    print(f"  data: {r['dataset']['train']} training / {r['dataset']['test']} test digits; "
          f"model: {r['model']}")
    print("accuracy")
    for name, value in acc.items():
        print(f"  {name:<28s}{_fmt_pct(value)}")
    e = r["mvm_error"]
    print(f"MVM error of the core against software ({r['in_bits']}-bit inputs, "
          f"{r['out_bits']}-bit outputs)")
    print(f"  rmse {e['rmse']:.4f} ({e['rmse_over_output_std']:.3f} of the output std), "
          f"mean {e['mean_error']:+.4f}, max |error| {e['max_abs_error']:.3f}, "
          f"correlation {e['correlation']:.4f}")
    c = r["core"]
    print("programming")
    print(f"  {c['rows_used']} rows x {c['columns_used']} columns used "
          f"({c['bias_row_pairs']} bias row pairs), w_max {c['w_max']:.3f}, "
          f"{100 * c['clipped_fraction']:.1f} % of weights clipped")
    print(f"  write-verify: {c['pulses_mean']:.1f} pulses per cell on average (max "
          f"{c['pulses_max']}), {100 * c['in_band_fraction']:.2f} % inside the band, "
          f"error rms {c['programming_error_rms_uS']:.2f} uS; {c['stuck_cells']} stuck cells")
    print(f"  relaxation after {c['read_time_s']:g} s: rms change {c['relaxation_rms_uS']:.2f} uS")
    d, n = r["device"], r["neuron"]
    on = [k for k in ("write_verify", "variation", "relaxation", "read_noise", "faults", "drift")
          if d[k]]
    print("device settings")
    print(f"  window {d['g_min'] * 1e6:g}-{d['g_max'] * 1e6:g} uS, tolerance "
          f"+-{d['tolerance'] * 1e6:g} uS, read noise {100 * d['read_noise_sigma']:g} %, stuck "
          f"off/on {d['stuck_off_rate']:g}/{d['stuck_on_rate']:g}; effects on: {', '.join(on)}")
    print(f"  neuron: V_read {n['v_read']:.3f} V x{n['pulse_multiplier']} pulses, "
          f"C_s/C_i {n['c_ratio']:g}, ADC step {n['adc_lsb'] * 1e3:g} mV ({n['adc']})")
    print(f"figure: {r['figure']}")
    print(f"({r['seconds']:.1f} s)")


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_chip_demo, run_core_demo

    result = run_core_demo(out_dir=args.out, seed=args.seed, read_time=args.read_time,
                           in_bits=args.in_bits, out_bits=args.out_bits)
    _print_demo(result)
    chip = run_chip_demo(out_dir=args.out, seed=args.seed, read_time=args.read_time)
    print()
    print("snn_neurram demo: a two-layer MLP compiled onto the 48-core chip")
    print(f"  {chip['model']}; on the chip {chip['in_bits']}-bit inputs, "
          f"{chip['out_bits']}-bit activations, {chip['head_bits']}-bit outputs")
    print(chip["report"])
    print("accuracy")
    for name, value in chip["accuracy"].items():
        print(f"  {name:<28s}{_fmt_pct(value)}")
    print(f"figure: {chip['figure']}")
    print(f"({chip['seconds']:.1f} s)")
    result["chip_demo"] = {k: v for k, v in chip.items() if k != "report"}
    if args.json:
        write_json(args.json, result)
    return 0


def cmd_map(args: argparse.Namespace) -> int:
    import os

    program = _program_for(args)
    figure = args.figure or f"{os.path.splitext(os.path.basename(args.model))[0]}_map.png"
    rep = program.report(figure=figure, energy=False)
    print(program.report_text(rep))
    print(f"figure: {rep['figure']}")
    if args.json:
        write_json(args.json, rep)
    return 0


def _program_for(args):
    import os

    from ..hw.chip import Chip
    from ..program import compile as compile_model
    from .models import MODELS, build
    from ..program import load

    if os.path.exists(args.model):
        return load(args.model)
    if args.model not in MODELS:
        raise ValueError(f"MODEL must be a saved program file or one of "
                         f"{', '.join(MODELS)} (got {args.model!r})")
    model, shape = build(args.model, seed=args.seed)
    return compile_model(model, Chip(n_cores=args.cores, seed=args.seed), input_shape=shape,
                         replicate=args.replicate, calibration_size=32)


def cmd_energy(args: argparse.Namespace) -> int:
    import os

    from ..analysis.energy import program_account
    from ..analysis.plotting import energy_figure

    program = _program_for(args)
    acc = program_account(program, args.in_bits, args.out_bits)
    print(program.energy_text(acc))
    figure = args.figure or f"{os.path.splitext(os.path.basename(args.model))[0]}_energy.png"
    acc["figure"] = energy_figure(acc, figure)
    print(f"figure: {acc['figure']}")
    if args.json:
        write_json(args.json, acc)
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from .compare import run_comparison

    steps = [int(s) for s in args.steps.split(",") if s]
    bits = [int(s) for s in args.ann_bits.split(",") if s]
    print(f"snn-neurram compare: {args.model} on {args.dataset}")
    result = run_comparison(dataset=args.dataset, model=args.model, steps=steps, ann_bits=bits,
                            out_bits=args.out_bits, seed=args.seed, out_dir=args.out,
                            test_samples=args.test_samples, folder=args.data)
    print(f"float software accuracy {100 * result['float_accuracy']:.2f} %")
    return _finish(result, args)


def _finish(result, args):
    """Print the figures' paths and the run time, write the JSON if asked; exit status 0."""
    for name, path in result.get("figures", {}).items():
        print(f"figure ({name}): {path}")
    print(f"({result['seconds']:.1f} s)")
    if args.json:
        write_json(args.json, result)
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    import os

    if args.what == "rbm":
        from .rbm_bench import recovery_benchmark

        os.makedirs(args.out, exist_ok=True)
        result = recovery_benchmark(args.dataset, seed=args.seed, folder=args.data,
                                    figure=os.path.join(args.out, f"rbm_{args.dataset}.png"))
        for kind, e in result["corruptions"].items():
            if e["software_over_sklearn"] is None:
                versus = "scikit-learn's RBM increased the error"
            else:
                versus = (f"software / scikit-learn {e['software_over_sklearn']:.2f}, "
                          f"chip / scikit-learn {e['chip_over_sklearn']:.2f}")
            print(f"{kind}: chip keeps {e['chip_over_software']:.2f} of the software "
                  f"reduction; {versus}")
        print(f"figure: {result['figure']}")
        print(f"({result['seconds']:.1f} s)")
    elif args.what == "classify":
        from .classify_bench import ROWS, classify_benchmark

        recipe = {k: v for k, v in (("chips", args.chips), ("epochs", args.epochs)) if v}
        result = classify_benchmark(args.dataset, recipe=recipe, out=args.out, folder=args.data,
                                    seed=args.seed, progress=sys.stderr.isatty())
        acc = result["accuracy"]
        print(f"{'':<32s}{'accuracy (%)':>14s}")
        for key, label in ROWS.items():
            v = acc[key]
            text = (f"{100 * v['mean']:8.2f} ± {100 * v['std']:.2f}" if isinstance(v, dict)
                    else f"{100 * v:8.2f}")
            print(f"{label:<32s}{text:>14s}")
        print(f"gap (quantised software - co-optimised chip): {result['gap_points']:.2f} points")
        return _finish(result, args)
    if args.json:
        write_json(args.json, result)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="snn-neurram",
        description="Spiking, Boltzmann and conventional networks on a simulated NeuRRAM chip.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("demo", help="classify the 8x8 digits through a simulated core")
    p.add_argument("--out", default="snn_neurram_demo", help="folder for figures "
                   "(default: %(default)s)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--read-time", type=float, default=86400.0,
                   help="seconds between programming and inference (default: one day)")
    p.add_argument("--in-bits", type=int, default=4)
    p.add_argument("--out-bits", type=int, default=8)
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("compare", help="spiking vs multi-bit inference: accuracy, latency, "
                       "energy, spikes")
    p.add_argument("--model", default="mlp", help="network to train and map (default: mlp)")
    p.add_argument("--dataset", default="digits", help="digits or fashion-mnist")
    p.add_argument("--data", metavar="FOLDER", help="folder of the Fashion-MNIST IDX files "
                   "(default: Debian's dataset-fashion-mnist)")
    p.add_argument("--steps", default="8,16,32,64,128", help="SNN time steps, comma-separated")
    p.add_argument("--ann-bits", default="1,2,3,4", help="ANN input bits, comma-separated")
    p.add_argument("--out-bits", type=int, default=4)
    p.add_argument("--test-samples", type=int, help="use only the first N test inputs")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="snn_neurram_compare", help="folder for figures")
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("bench", help="accuracy benchmarks (rbm: image recovery; classify: "
                       "co-optimisation steps and the eta sweep, needs the train extra)")
    p.add_argument("what", choices=["rbm", "classify"], help="which benchmark")
    p.add_argument("--chips", type=int, help="classify: simulated chips (default: the recipe's)")
    p.add_argument("--epochs", type=int, help="classify: training epochs (default: the "
                   "recipe's)")
    p.add_argument("--dataset", default="digits", help="digits or fashion-mnist")
    p.add_argument("--data", metavar="FOLDER", help="folder of the Fashion-MNIST IDX files")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="snn_neurram_bench", help="folder for figures")
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    p.set_defaults(func=cmd_bench)

    for name, helptext, figure, func in (
            ("map", "compile a model onto the chip and report where every weight lives",
             "core-grid picture (PNG)", cmd_map),
            ("energy", "energy and latency of one inference of a mapped model",
             "stacked-bar figure per layer (PNG)", cmd_energy)):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("model", metavar="MODEL",
                       help="mnist-cnn, digits-mlp, resnet20, or a saved program file")
        if name == "energy":
            p.add_argument("--in-bits", type=int, default=4)
            p.add_argument("--out-bits", type=int, default=4)
        p.add_argument("--cores", type=int, default=48, help="cores of the chip (default 48)")
        p.add_argument("--replicate", action="store_true",
                       help="copy the busiest layers onto free cores")
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--figure", metavar="PATH", help=figure)
        p.add_argument("--json", metavar="PATH", help="also write the results as JSON")
        p.set_defaults(func=func)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError, ImportError) as exc:   # one clear line
        print(f"snn-neurram {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
