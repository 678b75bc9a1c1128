"""Loads and stores that tell LLVM which memory accesses never overlap, for numba kernels.

A numba loop vectorizes only when LLVM can rule out that its stores overwrite what it reads: two
array arguments may be views of the same memory, so LLVM compares their address ranges at run
time before the loop, one comparison per pair of access streams, and gives up above 8 pairs. A
transform that reads 16 streams and writes 16 (``ops.winograd``) needs hundreds and runs scalar.

:func:`load` and :func:`store` attach LLVM's scoped no-alias metadata instead: every ``load``
belongs to a "read" scope and every ``store`` to its ``stream``'s scope, and each is declared
not to alias the others. That promise is the caller's to keep for the whole function:

- nothing a ``load`` reads is written by a ``store`` in the same function;
- two stores with different ``stream`` numbers never write the same address.

Accesses made with ordinary indexing carry no metadata and are unaffected. Indices are flat
(1D C-contiguous arrays) and unchecked.
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

STREAMS = 16
"""Store streams there are scopes for (``stream`` in ``0 .. STREAMS - 1``)."""

_READ = STREAMS  # the scope number of loads


def _scopes(module: ir.Module) -> list:
    domain = module.add_metadata([ir.MetaDataString(module, "numkeras.noalias")])
    return [module.add_metadata([ir.MetaDataString(module, f"numkeras.noalias.{k}"), domain])
            for k in range(STREAMS + 1)]


def _tag(instruction: ir.Instruction, module: ir.Module, scope: int) -> None:
    scopes = _scopes(module)
    instruction.set_metadata("alias.scope", module.add_metadata([scopes[scope]]))
    instruction.set_metadata("noalias", module.add_metadata(
        [s for k, s in enumerate(scopes) if k != scope]))


def _pointer(context, builder, array_type, array, index):
    ary = cgutils.create_struct_proxy(array_type)(context, builder, value=array)
    return builder.gep(ary.data, [index])


def _check(array: types.Type, index: types.Type) -> None:
    if not (isinstance(array, types.Array) and array.ndim == 1 and array.layout == "C"):
        raise TypeError("noalias: a flat C-contiguous array is needed")
    if not isinstance(index, types.Integer):
        raise TypeError("noalias: the index must be an integer")


@intrinsic
def load(typingctx, array, index):
    """``array[index]``, declared not to alias any :func:`store`."""
    _check(array, index)

    def codegen(context, builder, signature, args):
        ptr = _pointer(context, builder, signature.args[0], args[0], args[1])
        value = builder.load(ptr)
        _tag(value, builder.module, _READ)
        return value

    return array.dtype(array, index), codegen


@intrinsic
def store(typingctx, array, index, value, stream):
    """``array[index] = value`` in store stream ``stream`` (a literal integer), declared not to
    alias any :func:`load` nor any other stream's store."""
    _check(array, index)
    if not isinstance(stream, types.IntegerLiteral):
        return None  # numba then retries with the literal
    if not 0 <= stream.literal_value < STREAMS:
        raise TypeError(f"noalias.store: stream must be a literal in 0 .. {STREAMS - 1}")
    scope = stream.literal_value

    def codegen(context, builder, signature, args):
        ptr = _pointer(context, builder, signature.args[0], args[0], args[1])
        stored = context.cast(builder, args[2], signature.args[2], signature.args[0].dtype)
        instruction = builder.store(stored, ptr)
        _tag(instruction, builder.module, scope)
        return context.get_dummy_value()

    return types.none(array, index, value, stream), codegen
