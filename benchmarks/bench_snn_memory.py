"""Memory of a large spiking run: chunked (the default) against one chunk, extrapolated.

A small spiking CNN (Conv2d 1 -> 4, 3 x 3, padding 1; MaxPool2d 2; Flatten; Dense 784 -> 10, on
28 x 28 inputs) is compiled onto an 8-core chip with every default non-ideality on and run as a
rate-coded spiking network for ``--steps`` steps on ``--images`` random images (default 10 000)
with the default chunk size and a progress bar. The baseline, in the same run: the same network
on ``--baseline-images`` images in a single chunk (chunk = batch); its memory per image,
multiplied by ``--images``, is what one chunk of all the images would have taken (extrapolated,
not measured). Each run happens in a forked child process, so that its peak resident set
(``resource.getrusage(...).ru_maxrss``) starts from the parent's current resident set: the growth
is the peak less the resident set at the start.

    python benchmarks/bench_snn_memory.py --json results/bench_snn_memory.json

The JSON's ``ratio`` is (peak RSS growth of the chunked run of ``--images`` images) /
(extrapolated peak RSS growth of one chunk of ``--images`` images).
"""

import argparse
import resource
import time

import numpy as np

import snn_neurram as sn
from snn_neurram._io import write_json
from snn_neurram.apps.measure import in_child
from snn_neurram.apps.provenance import provenance
from snn_neurram.engines.spiking import default_chunk
from snn_neurram.layers import Conv2d, Dense, Flatten, MaxPool2d, Sequential

SHAPE = (1, 28, 28)


MIB = 2 ** 20


def _rss_bytes():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024.0   # kB on Linux


def _model(seed=0):
    rng = np.random.default_rng(seed)
    return Sequential([
        Conv2d(rng.standard_normal((4, 1, 3, 3)) * 0.5, rng.standard_normal(4) * 0.1, padding=1),
        MaxPool2d(2), Flatten(),
        Dense(rng.standard_normal((4 * 14 * 14, 10)) * 0.1, np.zeros(10), activation="linear")])


def _child(program, x, steps, chunk, progress):
    """One run, measured (in a forked child: its peak RSS growth (bytes) and time)."""
    before = _rss_bytes()
    t0 = time.perf_counter()
    r = program.run(x, mode="snn", coding="rate", steps=steps, seed=1, chunk=chunk,
                    progress=progress)
    seconds = time.perf_counter() - t0
    return {"images": len(x), "chunk": chunk, "seconds": seconds,
            "rss_growth_bytes": _rss_bytes() - before, "rss_start_bytes": before,
            "energy_per_inference_j": r.energy_per_inference_j,
            "spikes_per_inference": r.spikes_per_inference,
            "result_bytes": r.readout.nbytes + sum(c.nbytes for c in r.spike_counts)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", metavar="PATH")
    parser.add_argument("--images", type=int, default=10000)
    parser.add_argument("--baseline-images", type=int, default=500)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--cores", type=int, default=8)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    program = sn.compile(_model(), sn.Chip(seed=0, n_cores=args.cores),
                         calibration=rng.random((256,) + SHAPE))
    x = rng.random((args.images,) + SHAPE)
    x_base = x[:args.baseline_images].copy()
    program.run(x[:4], mode="snn", steps=2)                      # compile kernels, warm caches
    base = in_child(_child, program, x_base, args.steps, len(x_base), False)
    chunked = in_child(_child, program, x, args.steps, None, True)
    per_image = base["rss_growth_bytes"] / len(x_base)
    extrapolated = per_image * args.images
    chunk = min(default_chunk(program, SHAPE, args.steps), args.images)
    result = {"benchmark": "bench_snn_memory",
              "ratio": chunked["rss_growth_bytes"] / extrapolated,
              "images": args.images, "steps": args.steps, "default_chunk": chunk,
              "chunked_rss_growth_bytes": chunked["rss_growth_bytes"],
              "chunked_seconds": chunked["seconds"],
              "chunked_images_per_s": args.images / chunked["seconds"],
              "chunked_result_arrays_bytes": chunked["result_bytes"],
              "baseline_images": len(x_base),
              "baseline_rss_growth_bytes": base["rss_growth_bytes"],
              "baseline_seconds": base["seconds"],
              "baseline_bytes_per_image": per_image,
              "extrapolated_unchunked_rss_growth_bytes": extrapolated,
              "extrapolated_note": (f"baseline growth per image x {args.images} images: "
                                    "extrapolated, not measured"),
              "chunked_energy_per_inference_j": chunked["energy_per_inference_j"],
              "chunked_spikes_per_inference": chunked["spikes_per_inference"]}
    print(f"chunked run   {args.images} images in chunks of {chunk}: peak RSS +"
          f"{chunked['rss_growth_bytes'] / MIB:.0f} MB (results "
          f"{chunked['result_bytes'] / MIB:.0f} MB), {result['chunked_seconds']:.1f} s "
          f"({result['chunked_images_per_s']:.0f} images/s)")
    print(f"one chunk     {len(x_base)} images: peak RSS +{base['rss_growth_bytes'] / MIB:.0f} "
          f"MB ({per_image / 1024:.0f} kB per image), {base['seconds']:.1f} s")
    print(f"extrapolated  one chunk of {args.images} images: +{extrapolated / MIB:.0f} MB "
          "(not measured)")
    print(f"ratio         {result['ratio']:.3f} (chunked / extrapolated one chunk)")
    if args.json:
        write_json(args.json, {**result, "provenance": provenance()})
    return result


if __name__ == "__main__":
    main()
