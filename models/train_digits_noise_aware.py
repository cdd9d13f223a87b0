"""Train the noise-aware digits MLP shipped in snn_neurram/data/ (needs the `train` extra).

    python models/train_digits_noise_aware.py

The recipe is snn_neurram.pretrained.DIGITS_RECIPE; `snn-neurram demo` uses the result.
"""

from snn_neurram.pretrained import train_digits_mlp_noise_aware

if __name__ == "__main__":
    train_digits_mlp_noise_aware()
