"""Arrays and calls at raw addresses, for compiled tasks that other threads run without the GIL.

A task on the ``gemm_tasks`` board is a row of int64 fields; a compiled call task names a
numba ``cfunc`` by its address and its arguments by the address of an int64 row. The cfunc
turns the addresses it reads there back into arrays with :func:`array_at`. Whoever posts such a
task keeps the arrays alive until the task is done (``parallel.run_tasks`` returns only then).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from llvmlite import ir
from numba import carray, cfunc, njit, types
from numba.extending import intrinsic

TASK_SIGNATURE = types.void(types.CPointer(types.int64))


class CallTask:
    """A ``void (int64 *)`` numba ``cfunc`` made on first use (compiled, or loaded from numba's
    cache). A ``cfunc`` decorator compiles at import: with a cold cache, importing the engine
    took 11 s for kernels a model may never use."""

    def __init__(self, function: Callable) -> None:
        self.function = function
        self._compiled = None
        self._lock = threading.Lock()

    @property
    def address(self) -> int:
        """The compiled function's address, for ``gemm_tasks.calls``."""
        if self._compiled is None:
            with self._lock:
                if self._compiled is None:
                    self._compiled = cfunc(TASK_SIGNATURE, cache=True)(self.function)
        return self._compiled.address


def call_task(function: Callable) -> CallTask:
    """Decorator: ``function(row)``, reading its arguments from the int64 row ``row`` points
    to, as a :class:`CallTask`."""
    return CallTask(function)


@intrinsic
def _pointer(typingctx, address, dtype):  # pragma: no cover - compiled
    """``(dtype *) address``."""
    pointer_type = types.CPointer(dtype.dtype)

    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], context.get_value_type(pointer_type))

    return pointer_type(address, dtype), codegen


@njit(inline="always")
def array_at(address, size, dtype):  # pragma: no cover - compiled
    """The 1-D C-contiguous array of ``size`` elements of ``dtype`` at ``address``."""
    return carray(_pointer(address, dtype), size)


@intrinsic
def call_at(typingctx, function, argument):  # pragma: no cover - compiled
    """Calls the ``void (int64 *)`` function at address ``function`` with the address
    ``argument``."""
    def codegen(context, builder, signature, args):
        i64 = ir.IntType(64)
        fnty = ir.FunctionType(ir.VoidType(), [i64.as_pointer()])
        fn = builder.inttoptr(args[0], fnty.as_pointer())
        builder.call(fn, [builder.inttoptr(args[1], i64.as_pointer())])
        return context.get_dummy_value()

    return types.none(function, argument), codegen
