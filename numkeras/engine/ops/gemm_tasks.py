"""Blocks of matrix products that the calling thread and the helpers run without the GIL.

``parallel.run_chunks`` hands Python callables to the helper threads, and a Python chunk costs
two thread wake-ups: the helper's, when it is posted (and again when it needs the GIL the
caller holds), and the caller's, when the helper is done. Timed on the 2-core development host
(a VM) for the mlp's first product split in two halves, the helper started 58 us after the post
and the caller returned 36-50 us after the last half ended: 721 us for halves that take 556 us
alone. Here the product's blocks are plain data on a shared board (an int64 array: pointers,
shapes, leading dimensions, transposes); the caller and the helpers claim them with an atomic
counter and call OpenBLAS's cblas gemm from numba, so no thread ever needs the GIL for them,
and idle helpers watch the board for a while (:func:`idle`) before they go to sleep. The same
product took 598 us.

The board's generation is bumped for every post (task batches and ``run_chunks`` jobs alike);
the claim word (generation, task count, next index) and the count of finished tasks carry the
generation in their upper 32 bits, so a helper that comes late to a batch can never take a
task of the next one, nor run past its end. Every task of a batch
is a whole block whichever thread runs it, through the same cblas call, so the numbers never
depend on the threads (with one thread the caller runs them all, the same way).
"""

from __future__ import annotations

import time

import numpy as np
from numba import njit, types
from numba.extending import intrinsic

from numkeras.engine.ops.cblas import NO_TRANS, TRANS, address_for, gemm_at
from numkeras.engine.ops.pointers import call_at

GEN, KIND, CLAIM, DONE, SGEMM, DGEMM = range(6)  # board slots
KIND_TASKS, KIND_PYTHON = 1, 2
_HEADER = 8
_FIELDS = 12  # dtype, trans_a, trans_b, m, n, k, a, lda, b, ldb, c, ldc
MAX_TASKS = 64
_INDEX = (1 << 16) - 1  # claim word: generation << 32 | count << 16 | next index

CALLER_SPIN_CHECKS = 1 << 20
"""Board reads (~0.75 ms) the caller spends waiting, without the GIL, for blocks a helper has
claimed, before it polls in short sleeps. On an idle host the helper's block ends about when
the caller's does; on a busy one the helper may be waiting for the very core the caller spins
on, so the spin stays short."""


def available() -> bool:
    """Whether numpy's OpenBLAS cblas gemm functions are there (else, numpy built on another
    BLAS, products go through ``run_chunks``)."""
    return bool(address_for(np.float32) and address_for(np.float64))


def new_board() -> np.ndarray | None:
    """An empty board holding the addresses of the cblas gemm functions; ``None`` without
    them."""
    if not available():
        return None
    f32, f64 = address_for(np.float32), address_for(np.float64)
    board = np.zeros(_HEADER + MAX_TASKS * _FIELDS, dtype=np.int64)
    board[SGEMM], board[DGEMM] = f32, f64
    return board


# ----------------------------------------------------------------------------- atomics


@intrinsic
def _load(typingctx, board, slot):  # pragma: no cover - compiled
    """``board[slot]`` with acquire ordering (a load no loop may hoist)."""
    def codegen(context, builder, signature, args):
        array = context.make_array(signature.args[0])(context, builder, args[0])
        return builder.load_atomic(builder.gep(array.data, [args[1]]), "acquire", 8)

    return types.int64(board, slot), codegen


@intrinsic
def _store(typingctx, board, slot, value):  # pragma: no cover - compiled
    """``board[slot] = value`` with release ordering."""
    def codegen(context, builder, signature, args):
        array = context.make_array(signature.args[0])(context, builder, args[0])
        value = context.cast(builder, args[2], signature.args[2], types.int64)
        builder.store_atomic(value, builder.gep(array.data, [args[1]]), "release", 8)
        return context.get_dummy_value()

    return types.none(board, slot, value), codegen


@intrinsic
def _swap_if(typingctx, board, slot, expected, value):  # pragma: no cover - compiled
    """Compare-and-swap: whether ``board[slot]`` was ``expected`` and is now ``value``."""
    def codegen(context, builder, signature, args):
        array = context.make_array(signature.args[0])(context, builder, args[0])
        result = builder.cmpxchg(builder.gep(array.data, [args[1]]), args[2], args[3],
                                 "acq_rel", "acquire")
        return builder.extract_value(result, 1)

    return types.boolean(board, slot, expected, value), codegen


@intrinsic
def _add(typingctx, board, slot, value):  # pragma: no cover - compiled
    """Atomic ``board[slot] += value``."""
    def codegen(context, builder, signature, args):
        array = context.make_array(signature.args[0])(context, builder, args[0])
        builder.atomic_rmw("add", builder.gep(array.data, [args[1]]), args[2], "acq_rel")
        return context.get_dummy_value()

    return types.none(board, slot, value), codegen


# ----------------------------------------------------------------------------- numba side


@njit(cache=True, nogil=True)
def _run_task(board, i):  # pragma: no cover - compiled
    at = _HEADER + i * _FIELDS
    ta, tb, m, n, k = board[at + 1], board[at + 2], board[at + 3], board[at + 4], board[at + 5]
    a, lda, b, ldb, c, ldc = board[at + 6], board[at + 7], board[at + 8], board[at + 9], \
        board[at + 10], board[at + 11]
    if board[at] == 0:
        gemm_at(board[SGEMM], False, ta, tb, m, n, k, a, lda, b, ldb, c, ldc, 0.0)
    elif board[at] == 1:
        gemm_at(board[DGEMM], True, ta, tb, m, n, k, a, lda, b, ldb, c, ldc, 0.0)
    else:  # CALL: the function's address and its argument row's
        call_at(ta, tb)


@njit(cache=True, nogil=True)
def work(board, gen):  # pragma: no cover - compiled
    """Claims and runs tasks of batch ``gen`` until none is left. The claim word holds the
    generation, the batch's task count and the next index together, so a helper that comes
    late can neither claim a task of another batch nor read another batch's count."""
    while True:
        current = _load(board, CLAIM)
        if current >> 32 != gen or current & _INDEX >= (current >> 16) & _INDEX:
            return
        if _swap_if(board, CLAIM, current, current + 1):
            _run_task(board, current & _INDEX)
            _add(board, DONE, 1)


@njit(cache=True, nogil=True)
def _wait(board, target, checks):  # pragma: no cover - compiled
    for _ in range(checks):
        if _load(board, DONE) == target:
            return True
    return False


@njit(cache=True, nogil=True)
def idle(board, handled, checks):  # pragma: no cover - compiled
    """A helper's wait for work after generation ``handled``: runs every task batch posted
    meanwhile; returns ``(generation, True)`` as soon as a ``run_chunks`` job is posted (to be
    run in Python), ``(last generation handled, False)`` after ``checks`` reads of the board
    with nothing new."""
    quiet = 0
    while quiet < checks:
        gen = _load(board, GEN)
        if gen != handled:
            if board[KIND] != KIND_TASKS:
                return gen, True
            handled = gen
            work(board, gen)
            quiet = 0
        quiet += 1
    return handled, False


@njit(cache=True, nogil=True)
def publish(board, gen, kind, count):  # pragma: no cover - compiled
    """Makes batch ``gen`` (its tasks already written) visible to the helpers."""
    board[KIND] = kind
    _store(board, DONE, gen << 32)
    _store(board, CLAIM, gen << 32 | count << 16)
    _store(board, GEN, gen)


# ----------------------------------------------------------------------------- Python side


Block = tuple  # (a, b, out, r0, r1, c0, c1): out[r0:r1, c0:c1] = a[r0:r1] @ b[:, c0:c1]


def whole(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> Block:
    """The block that is the whole product ``out = a @ b``."""
    return (a, b, out, 0, a.shape[0], 0, b.shape[1])


def views(block: Block) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(a_block, b_block, out_block)`` of ``block``, for ``np.matmul``."""
    a, b, out, r0, r1, c0, c1 = block
    return a[r0:r1], b[:, c0:c1], out[r0:r1, c0:c1]


@njit(cache=True, nogil=True)
def _layout(a):  # pragma: no cover - compiled
    """``(transpose flag, leading dimension)`` of a 2-D operand cblas can read in place;
    leading dimension 0 when it cannot."""
    size = a.itemsize
    rows, cols = a.shape
    s0, s1 = a.strides
    if s1 == size and s0 % size == 0 and s0 >= size * cols or rows == 1 and s1 == size:
        return NO_TRANS, max(s0 // size, cols, 1)
    if s0 == size and s1 % size == 0 and s1 >= size * rows or cols == 1 and s0 == size:
        return TRANS, max(s1 // size, rows, 1)
    return NO_TRANS, 0


@njit(cache=True, nogil=True)
def _describe_block(fields, row, kind, a, b, out, r0, r1, c0, c1):  # pragma: no cover
    """Writes the task of ``out[r0:r1, c0:c1] = a[r0:r1] @ b[:, c0:c1]`` into ``fields[row]``;
    whether cblas can do it in place."""
    m, k = a.shape
    n = b.shape[1]
    if k == 0 or m == 0 or n == 0 or b.shape[0] != k or out.shape[0] != m or \
            out.shape[1] != n or not (0 <= r0 < r1 <= m and 0 <= c0 < c1 <= n):
        return False
    ta, lda = _layout(a)
    tb, ldb = _layout(b)
    tc, ldc = _layout(out)
    if lda == 0 or ldb == 0 or ldc == 0 or tc != NO_TRANS:
        return False
    task = fields[row]
    task[0], task[1], task[2] = kind, ta, tb
    task[3], task[4], task[5] = r1 - r0, c1 - c0, k
    task[6], task[7] = a.ctypes.data + r0 * a.strides[0], lda
    task[8], task[9] = b.ctypes.data + c0 * b.strides[1], ldb
    task[10] = out.ctypes.data + r0 * out.strides[0] + c0 * out.strides[1]
    task[11] = ldc
    return True


def describe(blocks: list[Block]) -> np.ndarray | None:
    """The task fields of ``blocks``, or ``None`` when one of them is not a float32 / float64
    2-D product cblas can do in place (or there are too many).

    A block names its whole product's arrays and its rows and columns; its fields are worked
    out in numba (12 -> 2.5 us for a product in two blocks: ``ctypes.data`` and the layout
    checks cost ~1 us per array in Python)."""
    if not blocks or len(blocks) > MAX_TASKS:
        return None
    fields = np.empty((len(blocks), _FIELDS), dtype=np.int64)
    for row, (a, b, out, r0, r1, c0, c1) in enumerate(blocks):
        kind = out.dtype.char  # 'f' float32, 'd' float64 (cheaper than comparing dtypes)
        if kind not in "fd" or a.dtype.char != kind or b.dtype.char != kind or \
                a.ndim != 2 or b.ndim != 2 or out.ndim != 2 or \
                not _describe_block(fields, row, 0 if kind == "f" else 1, a, b, out, r0, r1,
                                    c0, c1):
            return None
    return fields


CALL = 2
"""Field 0 of a compiled call task (0 and 1 are float32 and float64 gemm blocks)."""


def calls(function: int, arguments: np.ndarray) -> np.ndarray:
    """Task fields calling the ``void (int64 *)`` function at address ``function`` (a numba
    ``cfunc``) once per row of the C-contiguous int64 array ``arguments``, with that row's
    address. The caller keeps ``arguments``, and whatever they point to, alive until the tasks
    are done."""
    if arguments.dtype != np.int64 or arguments.ndim != 2 or not arguments.flags.c_contiguous:
        raise ValueError("Call arguments must be a C-contiguous 2-D int64 array; received "
                         f"{arguments.dtype} of shape {arguments.shape}.")
    fields = np.zeros((len(arguments), _FIELDS), dtype=np.int64)
    fields[:, 0] = CALL
    fields[:, 1] = function
    fields[:, 2] = arguments.ctypes.data + np.arange(len(arguments)) * arguments.strides[0]
    return fields


def run_here(template: np.ndarray, fields: np.ndarray) -> None:
    """Runs every task on the calling thread (nobody else to help, or nested), on a copy of
    the board ``template``."""
    board = template.copy()
    post(board, 1, fields)
    work(board, 1)


def post(board: np.ndarray, gen: int, fields: np.ndarray) -> None:
    """Writes the tasks as batch ``gen`` on the shared ``board`` and publishes it."""
    board[_HEADER:_HEADER + fields.size] = fields.reshape(-1)
    publish(board, gen, KIND_TASKS, len(fields))


def finish(board: np.ndarray, gen: int, count: int) -> None:
    """The poster's part of batch ``gen``: runs tasks until none is left unclaimed, then
    returns when all ``count`` are done."""
    work(board, gen)
    target = (gen << 32) | count
    try:
        while not _wait(board, target, CALLER_SPIN_CHECKS):
            time.sleep(50e-6)  # a helper holding a block was descheduled: let it run
    except BaseException:  # e.g. KeyboardInterrupt in the sleep: the helpers hold raw
        while not _wait(board, target, CALLER_SPIN_CHECKS):  # pointers into the caller's
            pass  # arrays, which must outlive their blocks
        raise
