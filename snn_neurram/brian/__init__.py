"""Old package path, kept so that user code keeps working: the Brian2 engine is
:mod:`snn_neurram.engines.brian`."""

from snn_neurram.engines.brian import *  # noqa: F401,F403
from snn_neurram.engines.brian import __all__  # noqa: F401
