"""Large models update their parameters in blocks over the cores: the same numbers as serially."""

from __future__ import annotations

import numpy as np
import pytest

from numkeras import optimizers
from numkeras.engine import updates
from numkeras.engine.ops import gemm_tasks

OPTIMIZERS = [
    lambda: optimizers.SGD(0.1, momentum=0.9, nesterov=True),
    lambda: optimizers.RMSprop(0.01, momentum=0.5, centered=True),
    lambda: optimizers.Adagrad(0.1),
    lambda: optimizers.Adadelta(1.0),
    lambda: optimizers.Adam(0.01),
    lambda: optimizers.Adam(0.01, amsgrad=True),
    lambda: optimizers.Adamax(0.01),
    lambda: optimizers.Nadam(0.01),
]


def _train(make, shapes, steps=3):
    rng = np.random.default_rng(0)
    params = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    untouched = params[1].copy()
    optimizer = make()
    for _ in range(steps):
        grads = [rng.standard_normal(s).astype(np.float32) for s in shapes]
        grads[1] = None  # a parameter without a gradient stays as it is
        updates.apply_gradients(optimizer, params, grads)
    np.testing.assert_array_equal(params[1], untouched)
    return params, updates.get_optimizer_weights(optimizer)


@pytest.mark.parametrize("make", OPTIMIZERS)
def test_blocked_update_equals_serial_update(make, monkeypatch):
    # 70,000 + 3 + 130,000 + 70 elements: above the threshold, blocks split the large arrays.
    shapes = [(700, 100), (3,), (1000, 130), (70,)]
    assert sum(int(np.prod(s)) for s in shapes) >= updates.PARALLEL_MIN_ELEMENTS
    ran = []
    real_run = updates._Tasks.run
    monkeypatch.setattr(updates._Tasks, "run", lambda *a: ran.append(1) or real_run(*a))
    blocked, blocked_state = _train(make, shapes)
    # Every rule runs its blocks as compiled call tasks (GIL-free) where there is a board.
    rule = updates._rule(make())
    assert bool(ran) == (hasattr(rule, "task") and gemm_tasks.available())
    monkeypatch.setattr(updates, "PARALLEL_MIN_ELEMENTS", 10 ** 9)
    serial, serial_state = _train(make, shapes)
    for b, s in zip(blocked + blocked_state, serial + serial_state, strict=True):
        np.testing.assert_array_equal(b, s)
    assert not np.array_equal(blocked[0], np.random.default_rng(0).standard_normal(
        shapes[0]).astype(np.float32))


def test_blocks_cover_every_element_once():
    params = [np.zeros(n, dtype=np.float32) for n in (200_000, 5, 65_536, 65_537)]
    slots = [{"m": np.zeros_like(p)} for p in params]
    blocks = updates._blocks(params, slots)
    for i, p in enumerate(params):
        covered = np.zeros(p.size, dtype=np.int64)
        for j, start, stop, view, slot_views in blocks:
            if j == i:
                covered[start:stop] += 1
                assert view.base is p.base or np.shares_memory(view, p)
                assert slot_views["m"].shape == view.shape
        assert (covered == 1).all()
    assert updates._blocks([np.zeros(10, dtype=np.float32)], [{}]) is None


def test_update_tasks_with_more_blocks_than_a_batch_holds(monkeypatch):
    """More blocks than one task batch takes (``gemm_tasks.MAX_TASKS``): posted in several
    batches, every element updated once, the serial numbers."""
    monkeypatch.setattr(updates, "BLOCK_ELEMENTS", 1 << 11)
    shapes = [(700, 100), (3,), (1000, 130), (70,)]  # ~100 blocks of 2,048
    blocked, blocked_state = _train(OPTIMIZERS[4], shapes)
    monkeypatch.setattr(updates, "PARALLEL_MIN_ELEMENTS", 10 ** 9)
    serial, serial_state = _train(OPTIMIZERS[4], shapes)
    for b, s in zip(blocked + blocked_state, serial + serial_state, strict=True):
        np.testing.assert_array_equal(b, s)


@pytest.mark.skipif(not gemm_tasks.available(), reason="needs numpy's OpenBLAS cblas gemm")
def test_update_tasks_are_left_out_for_float64_parameters():
    params = [np.zeros(200_000)]
    slots = [{"m": np.zeros(200_000), "v": np.zeros(200_000)}]
    from numkeras.engine.updates import adam
    blocks = updates._blocks(params, slots)
    assert updates._Tasks.plan(adam, params, slots, blocks) is None
    assert updates._Tasks.plan(adam, [p.astype(np.float32) for p in params],
                               [{k: v.astype(np.float32) for k, v in s.items()} for s in slots],
                               blocks) is not None


def test_compile_tasks_compiles_every_rule_s_task():
    updates.compile_tasks()
    assert all(rule.task._compiled is not None for rule in updates._RULES.values())
