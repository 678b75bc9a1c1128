"""``keras.utils``: Sequence, to_categorical, Progbar and serialization helpers."""

from numkeras.utils.data_utils import GeneratorEnqueuer, OrderedEnqueuer, Sequence
from numkeras.utils.generic_utils import (
    CustomObjectScope,
    custom_object_scope,
    deserialize_keras_object,
    get_custom_objects,
    serialize_keras_object,
)
from numkeras.utils.np_utils import normalize, to_categorical
from numkeras.utils.progbar import Progbar

__all__ = [
    "CustomObjectScope", "GeneratorEnqueuer", "OrderedEnqueuer", "Progbar", "Sequence",
    "custom_object_scope", "deserialize_keras_object", "get_custom_objects", "normalize",
    "serialize_keras_object", "to_categorical",
]
