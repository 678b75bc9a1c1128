"""The remote path against tf-keras itself: the engine's reference scenarios
(tests/fixtures/reference, computed once with tf-keras 2) run through numkeras.client and a
real server must give tf-keras's History, final weights, evaluate and predict."""

from __future__ import annotations

from types import ModuleType

import pytest

from tests.engine import test_keras_parity as parity

# One scenario per data path: arrays, dict multi-I/O, class and sample weights, validation
# split, a Sequence with uneven batches, sparse logits, stateful layers, a stateful optimizer.
NAMES = ["mlp_sgd", "multi_io", "class_weight", "sample_weight_temporal", "validation_split",
         "generator", "sparse_logits", "batchnorm", "opt_adam"]


@pytest.mark.parametrize("name", [n for n in NAMES if n in parity.SCENARIOS])
def test_remote_matches_tf_keras(name: str, remote: ModuleType,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parity, "model_from_json", remote.models.model_from_json)
    ref, npz, model, history, evaluation, prediction = parity._run(name)
    assert isinstance(model, remote.Model) and model.id
    monkeypatch.setattr(parity, "_run", lambda _: (ref, npz, model, history, evaluation,
                                                   prediction))
    parity.test_history_weights_evaluate_predict_match_tf_keras(name)
