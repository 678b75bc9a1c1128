"""Saving and loading models and weights in Keras 2's HDF5 format (see ``hdf5_format``)."""

from numkeras.engine.saving.hdf5_format import (
    compile_args_from_training_config,
    load_attributes_from_hdf5_group,
    load_model,
    load_optimizer_weights_from_hdf5_group,
    load_weights,
    load_weights_from_hdf5_group,
    load_weights_from_hdf5_group_by_name,
    model_from_config,
    restore_optimizer_state,
    save_attributes_to_hdf5_group,
    save_model,
    save_optimizer_weights_to_hdf5_group,
    save_weights,
    save_weights_to_hdf5_group,
)

__all__ = [
    "compile_args_from_training_config",
    "load_attributes_from_hdf5_group",
    "load_model",
    "load_optimizer_weights_from_hdf5_group",
    "load_weights",
    "load_weights_from_hdf5_group",
    "load_weights_from_hdf5_group_by_name",
    "model_from_config",
    "restore_optimizer_state",
    "save_attributes_to_hdf5_group",
    "save_model",
    "save_optimizer_weights_to_hdf5_group",
    "save_weights",
    "save_weights_to_hdf5_group",
]
