"""The symbolic graph: tensors, nodes and the functional network that connects layers."""

from numkeras.graph.functional import Functional
from numkeras.graph.keras_tensor import KerasTensor
from numkeras.graph.node import Node

__all__ = ["Functional", "KerasTensor", "Node"]
