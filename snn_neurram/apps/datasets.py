"""Data sets.

- The 8 x 8 digits (scikit-learn, shipped with it): the embedded default.
- Fashion-MNIST and MNIST from their standard IDX files (``train-images-idx3-ubyte[.gz]``,
  ``train-labels-idx1-ubyte[.gz]``, ``t10k-images-idx3-ubyte[.gz]``,
  ``t10k-labels-idx1-ubyte[.gz]``) in a folder the user names. Fashion-MNIST defaults to the
  folder of Debian's ``dataset-fashion-mnist`` package. Nothing is downloaded.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Sequence

import numpy as np
from numpy.typing import DTypeLike

__all__ = ["load_digits_split", "load_idx", "load_fashion_mnist", "load_mnist", "load_dataset",
           "FASHION_MNIST_DIR", "DATASETS"]

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
_FILES = {"train_images": "train-images-idx3-ubyte", "train_labels": "train-labels-idx1-ubyte",
          "test_images": "t10k-images-idx3-ubyte", "test_labels": "t10k-labels-idx1-ubyte"}
#: (X_train, X_test, y_train, y_test)
_Split = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def load_digits_split(test_size: float = 0.3, seed: int = 0) -> list[np.ndarray]:
    """The 8 x 8 digits, pixels scaled to [0, 1], split into stratified train and test sets.

    Returns
    -------
    X_train, X_test : ndarray (n, 64), float in [0, 1]
    y_train, y_test : ndarray (n,), int in 0..9
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    X = X.astype(np.float64) / 16.0
    return train_test_split(X, y, test_size=test_size, random_state=seed, stratify=y)


def load_idx(path: str) -> np.ndarray:
    """Read an IDX file (optionally gzip-compressed) into a numpy array."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as fh:
        data = fh.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise ValueError(f"{path} is not an IDX file")
    dtypes: dict[int, DTypeLike] = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4",
                                    0x0D: ">f4", 0x0E: ">f8"}
    if data[2] not in dtypes:
        raise ValueError(f"{path}: unknown IDX data type 0x{data[2]:02x}")
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * k:8 + 4 * k], "big") for k in range(ndim))
    arr = np.frombuffer(data, dtype=dtypes[data[2]], offset=4 + 4 * ndim)
    if arr.size != int(np.prod(shape)):
        raise ValueError(f"{path} is truncated: {arr.size} values for shape {shape}")
    return arr.reshape(shape)


def _find(folder, stem):
    for name in (stem, stem + ".gz"):
        path = os.path.join(folder, name)
        if os.path.exists(path):
            return path
    return None


def _load_idx_set(folder, name, hint):
    paths = {k: _find(folder, v) for k, v in _FILES.items()}
    missing = [_FILES[k] for k, p in paths.items() if p is None]
    if missing:
        raise FileNotFoundError(
            f"{name}: {', '.join(missing)} (or .gz) not found in {folder}. {hint}")
    X_tr = load_idx(paths["train_images"]).astype(np.float32) / 255.0
    X_te = load_idx(paths["test_images"]).astype(np.float32) / 255.0
    return (X_tr[:, None], X_te[:, None], load_idx(paths["train_labels"]).astype(np.int64),
            load_idx(paths["test_labels"]).astype(np.int64))


def load_fashion_mnist(folder: str | os.PathLike[str] | None = None) -> _Split:
    """Fashion-MNIST as (X_train, X_test, y_train, y_test), images (n, 1, 28, 28) in [0, 1].

    ``folder`` holds the four IDX files; by default Debian's package location.
    """
    folder = FASHION_MNIST_DIR if folder is None else os.fspath(folder)
    return _load_idx_set(folder, "Fashion-MNIST",
                         "Install Debian's package (apt-get install dataset-fashion-mnist) or "
                         "pass the folder that holds the IDX files.")


def load_mnist(folder: str | os.PathLike[str]) -> _Split:
    """MNIST from the folder that holds its four IDX files (same layout as Fashion-MNIST)."""
    return _load_idx_set(os.fspath(folder), "MNIST",
                         "Put the four MNIST IDX files in that folder (nothing is downloaded).")


DATASETS = ("digits", "fashion-mnist")


def load_dataset(name: str, folder: str | os.PathLike[str] | None = None, flat: bool = False,
                 seed: int = 0) -> Sequence[np.ndarray]:
    """(X_train, X_test, y_train, y_test) of ``digits`` or ``fashion-mnist``.

    ``flat=True`` gives vectors (n, 784) instead of images for Fashion-MNIST; digits are always
    vectors of 64.
    """
    if name == "digits":
        return load_digits_split(seed=seed)
    if name == "fashion-mnist":
        X_tr, X_te, y_tr, y_te = load_fashion_mnist(folder)
        if flat:
            X_tr, X_te = X_tr.reshape(len(X_tr), -1), X_te.reshape(len(X_te), -1)
        return X_tr, X_te, y_tr, y_te
    raise ValueError(f"dataset must be one of {', '.join(DATASETS)} (got {name!r})")
