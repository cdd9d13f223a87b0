"""Training (Adam, cross-entropy, resumable checkpoints) and evaluation of a :class:`QuantNet`."""

from __future__ import annotations

import contextlib
import io
import math
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .._checks import as_finite_array, check_choice, check_int, check_range
from .._io import atomic_write_bytes
from .net import QuantNet

__all__ = ["train", "evaluate", "evaluate_draws", "load_checkpoint"]

LR_SCHEDULES = ("cosine", None)
CHECKPOINT_FORMAT = 1


def _check_net(net):
    if not isinstance(net, QuantNet):
        raise ValueError(f"net must be a QuantNet (got {type(net).__name__})")


def labelled_data(X: ArrayLike, y: ArrayLike, name: str = "X",
                  yname: str = "y") -> tuple[torch.Tensor, torch.Tensor]:
    """(inputs, labels) as float32 / int64 tensors, checked against each other."""
    X = as_finite_array(X, name, dtype=np.float32)
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != len(X) or len(X) == 0:
        raise ValueError(f"{yname} must be a 1-D array with one label per row of {name} "
                         f"(got {name} {X.shape}, {yname} {y.shape})")
    if not np.issubdtype(y.dtype, np.integer) or y.min() < 0:
        raise ValueError(f"{yname} must hold integer class labels >= 0")
    return torch.from_numpy(np.ascontiguousarray(X)), torch.from_numpy(y.astype(np.int64))


def _seeds(seed):
    """Independent seeds for the shuffling, the weight noise and the calibration subset."""
    return [int(s) for s in np.random.SeedSequence(seed).generate_state(3)]


# ---------------------------------------------------------------------------- evaluation
@torch.no_grad()
def evaluate_draws(net: QuantNet, X: ArrayLike, y: ArrayLike, *, eta: float | None = None,
                   draws: int = 1, start: int = 0, seed: int = 0,
                   batch_size: int = 1024) -> np.ndarray:
    """Accuracy (fraction) of each of ``draws`` noisy copies of the net, in evaluation mode.

    Each draw is one programmed chip: one sample of relative weight noise N(0, (eta max|W|)^2)
    per layer, kept for the whole data set. The draws come from a generator seeded with
    ``seed``; the net's own generator is not touched.

    Parameters
    ----------
    net : QuantNet
    X, y : array_like
        Inputs of stage ``start`` and integer labels.
    eta : float, optional
        Relative weight noise; default ``net.test_eta`` (None: no noise, every draw equal).
    draws : int
        Number of noise draws, in [1, 100000].
    start : int
        First stage to run.
    seed : int
    batch_size : int

    Returns
    -------
    ndarray (draws,)
    """
    _check_net(net)
    draws = check_int(draws, "draws", 1, 100000)
    start = check_int(start, "start", 0, net.n_stages - 1)
    batch_size = check_int(batch_size, "batch_size", 1, None)
    eta = net.test_eta if eta is None else eta
    eta = None if eta is None else check_range(eta, "eta", 0.0, None)
    Xt, yt = labelled_data(X, y)
    gen = torch.Generator().manual_seed(check_int(seed, "seed", 0, None))
    was_training = net.training
    net.eval()
    acc = np.empty(draws)
    try:
        for d in range(draws):
            if eta is not None:
                net.frozen_noise = [net.draw_noise(k, "relative", eta, gen)
                                     for k in range(net.n_stages)]
            elif d > 0:
                acc[d] = acc[0]
                continue
            correct = 0
            for i in range(0, len(Xt), batch_size):
                out = net(Xt[i:i + batch_size], start=start)
                correct += int((out.argmax(1) == yt[i:i + batch_size]).sum())
            acc[d] = correct / len(Xt)
    finally:
        net.frozen_noise = None
        net.train(was_training)
    return acc


def evaluate(net: QuantNet, X: ArrayLike, y: ArrayLike, *, eta: float | None = None,
             draws: int = 1, start: int = 0, seed: int = 0, batch_size: int = 1024) -> float:
    """Mean accuracy (fraction) over :func:`evaluate_draws` (same arguments)."""
    return float(np.mean(evaluate_draws(net, X, y, eta=eta, draws=draws, start=start, seed=seed,
                                        batch_size=batch_size)))


# ---------------------------------------------------------------------------- checkpoints
def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The dict that :func:`train` saved at ``path`` (tensors and plain values only)."""
    return torch.load(os.fspath(path), weights_only=True)


def save_checkpoint(path: str | os.PathLike[str], state: dict[str, Any]) -> None:
    """Write a training state (tensors and plain values) to ``path`` atomically."""
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(path, buf.getvalue())


def check_config(saved: dict[str, Any], config: dict[str, Any], path: Any) -> None:
    """ValueError unless a checkpoint's settings equal this call's, naming the first that
    differs."""
    for key in sorted(set(saved) | set(config)):
        if saved.get(key, "<missing>") != config.get(key, "<missing>"):
            raise ValueError(f"checkpoint {path} was written with {key}={saved.get(key)!r} but "
                             f"this call has {key}={config.get(key)!r}; pass resume=False or "
                             f"another checkpoint path to start afresh")


def check_schedule(epochs: Any, lr: Any, batch_size: Any, weight_decay: Any,
                   lr_schedule: Any, seed: Any) -> tuple[int, float, int, float, str | None, int]:
    """The settings every trainer takes, validated: (epochs in [1, 100000], lr > 0,
    batch_size >= 1, weight_decay >= 0, lr_schedule of :data:`LR_SCHEDULES`, seed >= 0)."""
    return (check_int(epochs, "epochs", 1, 100000),
            check_range(lr, "lr", 0.0, None, lo_open=True),
            check_int(batch_size, "batch_size", 1, None),
            check_range(weight_decay, "weight_decay", 0.0, None),
            check_choice(lr_schedule, "lr_schedule", LR_SCHEDULES),
            check_int(seed, "seed", 0, None))


@contextlib.contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """PyTorch's intra-op threads set to ``threads`` (1 .. 4096) inside the block, restored
    after it; None leaves them as they are."""
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(check_int(threads, "threads", 1, 4096))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def lr_scheduler(opt: torch.optim.Optimizer, lr_schedule: str | None,
                 total: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Cosine decay of the learning rate to 0 over ``total`` steps, or a constant rate (None)."""
    factor = (lambda t: 0.5 * (1.0 + math.cos(math.pi * t / total))) \
        if lr_schedule == "cosine" else (lambda t: 1.0)
    return torch.optim.lr_scheduler.LambdaLR(opt, factor)


def resume_training(checkpoint: str | os.PathLike[str] | None, resume: bool,
                    config: dict[str, Any], net: torch.nn.Module, opt: torch.optim.Optimizer,
                    sched: Any, gens: dict[str, torch.Generator]) -> dict[str, Any] | None:
    """Load the state a trainer saved at ``checkpoint`` into net, optimizer, scheduler and
    random generators (named as saved) and return its history; None when there is nothing to
    resume. The checkpoint's settings must equal ``config``."""
    if checkpoint is None or not resume or not os.path.exists(checkpoint):
        return None
    ck = load_checkpoint(checkpoint)
    check_config(ck["config"], config, checkpoint)
    net.load_state_dict(ck["net"])
    opt.load_state_dict(ck["optimizer"])
    sched.load_state_dict(ck["scheduler"])
    for key, gen in gens.items():
        gen.set_state(ck[key])
    history: dict[str, Any] = ck["history"]
    return history


def new_history() -> dict[str, Any]:
    """The empty history of a training run."""
    return {"loss": [], "train_accuracy": [], "val_accuracy": [], "seconds": [],
            "epochs_done": 0}


def run_epochs(net: torch.nn.Module, labels: torch.Tensor, batch_size: int, epochs: int,
               history: dict[str, Any], opt: torch.optim.Optimizer, sched: Any,
               gens: dict[str, torch.Generator], batch_loss: Callable[[torch.Tensor], Any],
               validate: Callable[[], float | None], *, checkpoint: Any, config: dict[str, Any],
               progress: bool, extra: dict[str, Any] | None = None,
               max_grad_norm: float | None = None) -> None:
    """The epochs both trainers run, from ``history["epochs_done"]``: shuffle (with
    ``gens["shuffle_rng"]``), one Adam step per batch on ``batch_loss(indices) -> (loss,
    outputs)``, ``validate()`` after the epoch, the history, an atomic checkpoint (net,
    optimizer, scheduler, history, config, every generator's state, ``extra``) and a summary
    line. ``max_grad_norm``: gradients clipped to that norm before each step."""
    n = len(labels)
    n_batches = math.ceil(n / batch_size)
    for epoch in range(history["epochs_done"], epochs):
        t0 = time.perf_counter()
        loss_sum, correct = 0.0, 0
        net.train()
        order = torch.randperm(n, generator=gens["shuffle_rng"])
        bar = tqdm(total=n_batches, desc=f"epoch {epoch + 1}/{epochs}", unit="batch",
                   disable=not progress, leave=False)
        for i in range(n_batches):
            idx = order[i * batch_size:(i + 1) * batch_size]
            loss, out = batch_loss(idx)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if max_grad_norm is not None:
                torch.nn.utils.clip_grad_norm_(net.parameters(), max_grad_norm)
            opt.step()
            sched.step()
            loss_sum += loss.item() * len(idx)
            correct += int((out.argmax(1) == labels[idx]).sum())
            bar.update(1)
        bar.close()
        val = validate()
        history["loss"].append(loss_sum / n)
        history["train_accuracy"].append(correct / n)
        history["val_accuracy"].append(val)
        history["seconds"].append(time.perf_counter() - t0)
        history["epochs_done"] = epoch + 1
        if checkpoint is not None:
            save_checkpoint(checkpoint, {
                "format": CHECKPOINT_FORMAT, "net": net.state_dict(),
                "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                "epoch": epoch + 1, "history": history, "config": config, **(extra or {}),
                **{key: gen.get_state() for key, gen in gens.items()}})
        if progress:
            tqdm.write(f"epoch {epoch + 1}/{epochs}: loss {history['loss'][-1]:.4f}, "
                       f"train acc {history['train_accuracy'][-1]:.4f}"
                       + ("" if val is None else f", val acc {val:.4f}")
                       + f", {history['seconds'][-1]:.1f} s")


# ---------------------------------------------------------------------------- training
def train(net: QuantNet, X: ArrayLike, y: ArrayLike, *, epochs: int = 10, lr: float = 1e-3,
          batch_size: int = 128, weight_decay: float = 0.0, X_val: ArrayLike | None = None,
          y_val: ArrayLike | None = None, start: int = 0,
          checkpoint: str | os.PathLike[str] | None = None, resume: bool = True,
          progress: bool = True, seed: int = 0,
          lr_schedule: str | None = "cosine", teacher: QuantNet | None = None,
          distill: float = 0.5, temperature: float = 4.0) -> dict[str, Any]:
    """Train ``net`` with Adam on the cross-entropy, its weight noise on in every forward pass.

    Parameters
    ----------
    net : QuantNet
        Trained in place; left in evaluation mode.
    X : array_like (N, ...)
        Inputs of stage ``start``: network inputs for 0, otherwise activations of stage
        ``start - 1`` (e.g. measured on a chip).
    y : array_like (N,) of int
        Class labels.
    epochs : int
        Passes over the data, in [1, 100000].
    lr : float
        Adam learning rate, > 0.
    batch_size : int
        Samples per step (the last step of an epoch takes the rest).
    weight_decay : float
        Adam's L2 coefficient on weights and biases (not on the clips), >= 0.
    X_val, y_val : array_like, optional
        Validation inputs of stage ``start`` and labels, scored after every epoch without
        weight noise.
    start : int
        Train stages[start:] only: the parameters of the stages before it get no update.
    checkpoint : str or path, optional
        File written atomically after every epoch (previous file intact if a save is
        interrupted).
    resume : bool
        Continue from ``checkpoint`` when it exists; its settings must equal this call's, else
        ValueError. The result equals that of an uninterrupted run.
    progress : bool
        A progress bar per epoch and a summary line after it.
    seed : int
        Seeds the shuffling, the weight noise and the calibration subset.
    lr_schedule : {"cosine", None}
        Cosine decay of the learning rate to 0 over all steps, or a constant rate.
    teacher : QuantNet, optional
        Knowledge distillation: a trained net (typically the plainly trained one) whose
        noise-free outputs on the same batch the net also learns from. The loss is then
        (1 - distill) * cross-entropy + distill * T^2 * KL(teacher || net) at temperature T
        (Hinton et al. 2015). A checkpoint records distill and T, not the teacher itself.
    distill : float
        Weight of the distillation term, in [0, 1].
    temperature : float
        Softmax temperature T of the distillation term, > 0.

    Returns
    -------
    dict
        ``loss`` (mean cross-entropy of each epoch), ``train_accuracy`` (on the noisy training
        passes), ``val_accuracy`` (None entries without validation data), ``seconds`` (wall time
        of each epoch) and ``epochs_done``.
    """
    _check_net(net)
    epochs, lr, batch_size, weight_decay, lr_schedule, seed = check_schedule(
        epochs, lr, batch_size, weight_decay, lr_schedule, seed)
    start = check_int(start, "start", 0, net.n_stages - 1)
    if teacher is not None:
        _check_net(teacher)
        teacher.eval()
        if start != 0:
            raise ValueError("teacher: distillation needs network inputs (start=0)")
    distill = check_range(distill, "distill", 0.0, 1.0)
    temperature = check_range(temperature, "temperature", 0.0, None, lo_open=True)
    Xt, yt = labelled_data(X, y)
    n_classes = net.stages[-1].weight.shape[0]
    if int(yt.max()) >= n_classes:
        raise ValueError(f"y holds label {int(yt.max())} but the net has {n_classes} outputs")
    if (X_val is None) != (y_val is None):
        raise ValueError("give both X_val and y_val, or neither")
    if X_val is not None and y_val is not None:
        X_val, y_val = (t.numpy() for t in labelled_data(X_val, y_val, "X_val", "y_val"))
    n = len(Xt)
    steps = math.ceil(n / batch_size)
    config = {"epochs": epochs, "lr": lr, "batch_size": batch_size,
              "weight_decay": weight_decay, "start": start, "seed": seed,
              "lr_schedule": lr_schedule, "n_train": n, **net.config()}
    if teacher is not None:
        config |= {"distill": distill, "temperature": temperature}

    stages = list(net.stages)[start:]
    clips = [s.clip for s in stages if s.relu]
    others = [p for s in stages for name, p in s.named_parameters() if name != "clip"]
    opt = torch.optim.Adam([{"params": others, "weight_decay": weight_decay},
                            {"params": clips, "weight_decay": 0.0}], lr=lr)
    sched = lr_scheduler(opt, lr_schedule, epochs * steps)
    shuffle_seed, noise_seed, calib_seed = _seeds(seed)
    gens = {"shuffle_rng": torch.Generator().manual_seed(shuffle_seed),
            "noise_rng": net.generator.manual_seed(noise_seed)}
    history = resume_training(checkpoint, resume, config, net, opt, sched, gens)
    if history is None:
        history = new_history()
        if not net.is_calibrated(start):
            net.calibrate(X, start=start, seed=calib_seed)

    def batch_loss(idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = net(Xt[idx], start=start)
        loss = F.cross_entropy(out, yt[idx])
        if teacher is not None and distill > 0:
            with torch.no_grad():
                soft = F.softmax(teacher(Xt[idx]) / temperature, dim=1)
            kl = F.kl_div(F.log_softmax(out / temperature, dim=1), soft, reduction="batchmean")
            loss = (1 - distill) * loss + distill * temperature ** 2 * kl
        return loss, out

    def validate() -> float | None:
        return None if X_val is None or y_val is None else evaluate(net, X_val, y_val,
                                                                    start=start)

    frozen = [p for s in list(net.stages)[:start] for p in s.parameters()]
    was_trainable = [p.requires_grad for p in frozen]
    for p in frozen:
        p.requires_grad_(False)
    try:
        run_epochs(net, yt, batch_size, epochs, history, opt, sched, gens, batch_loss, validate,
                   checkpoint=checkpoint, config=config, progress=progress)
    finally:
        for p, flag in zip(frozen, was_trainable):
            p.requires_grad_(flag)
        net.eval()
    return history
