"""Optional dependencies of some tests: each test that needs one skips, when it is missing,
with the reason and the command that installs it."""

import pytest

#: Why each optional package is needed and how to get it.
REASONS = {
    "torch": "PyTorch trains the networks (the train extra, installed by make test on Python "
             "3.11): pip install 'snn_neurram[train]'",
    "snntorch": "snnTorch is the other side of the NIR interoperability test (the train "
                "extra): pip install 'snn_neurram[train]'",
    "nir": "the nir package reads and writes NIR graphs: pip install 'snn_neurram[nir]'",
    "librosa": "librosa computes the audio features: pip install 'snn_neurram[audio]'",
    "h5py": "h5py reads the Spiking Heidelberg Digits' HDF5 files: "
            "pip install 'snn_neurram[audio]'",
    "dask": "dask.distributed runs the sweeps (the sweep extra): pip install 'snn_neurram[sweep]'",
    "distributed": "dask.distributed runs the sweeps (the sweep extra): "
                   "pip install 'snn_neurram[sweep]'",
    "pandas": "pandas holds the sweeps' tables (the sweep extra): pip install 'snn_neurram[sweep]'",
    "pyarrow": "pyarrow writes the sweeps' Parquet files (the sweep extra): "
               "pip install 'snn_neurram[sweep]'",
}


def need(module: str):
    """The module, or a skip that says why the test needs it and how to install it."""
    return pytest.importorskip(module, reason=REASONS[module])
