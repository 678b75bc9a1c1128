"""Keras 2 layers: the declarative vocabulary shared by the engine and the client."""

from __future__ import annotations

from typing import Any

from numkeras.layers.activation import Activation
from numkeras.layers.activity_regularization import ActivityRegularization
from numkeras.layers.advanced_activations import (
    ELU,
    LeakyReLU,
    PReLU,
    ReLU,
    Softmax,
    ThresholdedReLU,
)
from numkeras.layers.batch_normalization import BatchNormalization
from numkeras.layers.conv import Conv1D, Conv2D, Convolution1D, Convolution2D
from numkeras.layers.conv2d_transpose import Conv2DTranspose, Convolution2DTranspose
from numkeras.layers.cropping import Cropping1D, Cropping2D
from numkeras.layers.dense import Dense
from numkeras.layers.depthwise_conv2d import DepthwiseConv2D
from numkeras.layers.dropout import Dropout
from numkeras.layers.embedding import Embedding
from numkeras.layers.flatten import Flatten
from numkeras.layers.global_pooling import (
    GlobalAveragePooling1D,
    GlobalAveragePooling2D,
    GlobalAvgPool1D,
    GlobalAvgPool2D,
    GlobalMaxPool1D,
    GlobalMaxPool2D,
    GlobalMaxPooling1D,
    GlobalMaxPooling2D,
)
from numkeras.layers.input_layer import Input, InputLayer
from numkeras.layers.layer import Layer, Weight
from numkeras.layers.layer_normalization import LayerNormalization
from numkeras.layers.masking import Masking
from numkeras.layers.merge import (
    Add,
    Average,
    Concatenate,
    Dot,
    Maximum,
    Minimum,
    Multiply,
    Subtract,
)
from numkeras.layers.noise import AlphaDropout, GaussianDropout, GaussianNoise
from numkeras.layers.permute import Permute
from numkeras.layers.pooling import (
    AveragePooling1D,
    AveragePooling2D,
    AvgPool1D,
    AvgPool2D,
    MaxPool1D,
    MaxPool2D,
    MaxPooling1D,
    MaxPooling2D,
)
from numkeras.layers.recurrent import GRU, LSTM, SimpleRNN
from numkeras.layers.repeat_vector import RepeatVector
from numkeras.layers.reshape import Reshape
from numkeras.layers.separable_conv import (
    SeparableConv1D,
    SeparableConv2D,
    SeparableConvolution1D,
    SeparableConvolution2D,
)
from numkeras.layers.spatial_dropout import SpatialDropout1D, SpatialDropout2D
from numkeras.layers.up_sampling import UpSampling1D, UpSampling2D
from numkeras.layers.wrappers import Bidirectional, TimeDistributed
from numkeras.layers.zero_padding import ZeroPadding1D, ZeroPadding2D
from numkeras.utils.generic_utils import deserialize_keras_object, serialize_keras_object


def _registry() -> dict[str, Any]:
    from numkeras.graph.functional import Functional

    table: dict[str, Any] = {}
    for name, obj in globals().items():
        if isinstance(obj, type) and issubclass(obj, Layer):
            table[name] = obj
    table["Functional"] = Functional
    table["Model"] = Functional
    return table


def serialize(layer: Layer) -> dict[str, Any]:
    """``{"class_name": ..., "config": ...}`` in Keras 2 form."""
    from numkeras.graph.functional import Functional

    data = serialize_keras_object(layer)
    if isinstance(layer, Functional):
        data["class_name"] = "Model"
    return data


def deserialize(config: dict[str, Any], custom_objects: dict[str, Any] | None = None) -> Layer:
    """Builds a layer from Keras 2 or tf.keras JSON (extra keys such as ``module`` ignored).

    Raises:
        ValueError: for an unknown class name, naming it.
    """
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"Layer config must be a dict with 'class_name' and 'config': {config!r}")
    table = _registry()
    registry_custom = dict(custom_objects or {})
    # Nested models in an engine model are rebuilt with the engine's Model class.
    if config["class_name"] in ("Model", "Functional") and "Model" in registry_custom:
        table["Model"] = table["Functional"] = registry_custom["Model"]
    inner = dict(config.get("config") or {})
    if config["class_name"] not in table and config["class_name"] not in registry_custom:
        raise ValueError(
            f"Unknown layer: {config['class_name']!r}. Please ensure this object is passed to "
            "the `custom_objects` argument."
        )
    return deserialize_keras_object({"class_name": config["class_name"], "config": inner},
                                    table, registry_custom, "layer")


def get(identifier: Any) -> Layer:
    if isinstance(identifier, Layer):
        return identifier
    return deserialize(identifier)
