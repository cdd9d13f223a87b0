"""Old module path, kept so that user code keeps working: the module is :mod:`snn_neurram.apps.cli`."""

import importlib
import sys

sys.modules[__name__] = importlib.import_module("snn_neurram.apps.cli")
