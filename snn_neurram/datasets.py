"""Data sets. The embedded default is scikit-learn's 8 x 8 digits (shipped with scikit-learn)."""

import numpy as np

__all__ = ["load_digits_split"]


def load_digits_split(test_size=0.3, seed=0):
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
