"""The compiled 7-layer MNIST CNN in ANN mode on the chip against the same network in float32.

Ours: ``snn_neurram.models.mnist_cnn`` compiled onto a 48-core chip with every default
non-ideality on (write-verify, one day of relaxation, faults, variation, per-read noise), run with
``program.run`` on 10 000 images of 28 x 28 (4-bit inputs, 4-bit outputs). Baseline, in the same
run: the same network in plain float32 numpy (im2col + matmul, ReLU, max-pooling), on the same
images in the same chunks.

    python benchmarks/bench_chip.py --json results/bench_chip.json

The JSON's ``ratio`` is (our images/s) / (baseline images/s). Images are synthetic (uniform noise
with a blurred digit-like blob) unless ``--fashion`` finds Debian's Fashion-MNIST: speed does not
depend on them.
"""

import argparse
import time

import numpy as np

import snn_neurram as sn
from snn_neurram._io import write_json
from snn_neurram.apps.provenance import provenance
from snn_neurram.layers import Conv2d, Dense, Flatten, MaxPool2d, im2col
from snn_neurram.models import mnist_cnn


def float32_network(model):
    """A plain float32 numpy forward pass of a Sequential of Conv2d / MaxPool2d / Flatten / Dense."""
    ops = []
    for layer in model.layers:
        if isinstance(layer, Conv2d):
            Wm, b = layer.matrix()
            ops.append(("conv", Wm.astype(np.float32), b.astype(np.float32), layer))
        elif isinstance(layer, Dense):
            ops.append(("dense", layer.W.astype(np.float32), layer.b.astype(np.float32), layer))
        elif isinstance(layer, MaxPool2d):
            ops.append(("pool", layer.kernel, None, layer))
        elif isinstance(layer, Flatten):
            ops.append(("flat", None, None, layer))

    def run(x):
        for kind, a, b, layer in ops:
            if kind == "conv":
                cols, hw = im2col(x, *layer.W.shape[2:], layer.stride, layer.padding)
                y = cols @ a
                y += b
                np.maximum(y, 0, out=y)
                x = y.reshape(len(x), hw[0], hw[1], -1).transpose(0, 3, 1, 2)
            elif kind == "pool":
                n, c, h, w = x.shape
                k = a
                x = x[:, :, :h // k * k, :w // k * k].reshape(n, c, h // k, k, w // k, k)
                x = x.max(axis=(3, 5))
            elif kind == "flat":
                x = x.reshape(len(x), -1)
            else:
                x = x @ a + b
        return x

    return run


def synthetic_images(n, rng):
    yy, xx = np.mgrid[0:28, 0:28]
    cy, cx = rng.uniform(8, 20, (2, n, 1, 1))
    blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 30.0)
    return np.clip(blob + 0.1 * rng.random((n, 28, 28)), 0, 1)[:, None].astype(np.float32)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", metavar="PATH")
    parser.add_argument("--images", type=int, default=10000)
    parser.add_argument("--chunk", type=int, default=500)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    x = synthetic_images(args.images, rng)
    model = mnist_cnn(seed=0)
    t0 = time.perf_counter()
    program = sn.compile(model, sn.Chip(seed=0), calibration=x[:256])
    t_compile = time.perf_counter() - t0
    baseline = float32_network(model)
    program.run(x[:args.chunk], chunk=args.chunk)           # warm up (kernels compiled)
    baseline(x[:args.chunk])
    t_chip, t_base = np.inf, np.inf
    for _ in range(2):                                       # interleaved, best of two
        t0 = time.perf_counter()
        y_chip = program.run(x, chunk=args.chunk, progress=False)
        t_chip = min(t_chip, time.perf_counter() - t0)
        t0 = time.perf_counter()
        y_base = np.concatenate([baseline(x[i:i + args.chunk])
                                 for i in range(0, len(x), args.chunk)])
        t_base = min(t_base, time.perf_counter() - t0)
    agree = float(np.mean(y_chip.argmax(1) == y_base.argmax(1)))
    result = {"benchmark": "bench_chip", "ratio": t_base / t_chip,
              "chip_images_per_s": args.images / t_chip,
              "float32_images_per_s": args.images / t_base,
              "chip_seconds": t_chip, "float32_seconds": t_base, "compile_seconds": t_compile,
              "images": args.images, "chunk": args.chunk, "in_bits": 4, "out_bits": 4,
              "argmax_agreement_with_float32": agree,
              "cores_used": program.report()["cores_used"]}
    print(f"chip     {result['chip_images_per_s']:9.0f} images/s ({t_chip:.2f} s)")
    print(f"float32  {result['float32_images_per_s']:9.0f} images/s ({t_base:.2f} s)")
    print(f"ratio (chip / float32 images per second) = {result['ratio']:.3f}; "
          f"argmax agreement {agree:.3f}")
    if args.json:
        write_json(args.json, {**result, "provenance": provenance()})
    return result


if __name__ == "__main__":
    main()
