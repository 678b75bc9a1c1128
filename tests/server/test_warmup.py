"""The image's build-time warm-up runs the engine's kernels: dense, conv (im2col and
Winograd), pooling, LSTM."""

import subprocess
import sys

CHECK = """
import numba
from numkeras.engine.kernels import lstm_sequence, pooling
from numkeras.engine.ops import conv, winograd
from numkeras.engine.updates import adam
from numkeras.server import warmup

def used(module):
    return sorted(name for name, d in vars(module).items()
                  if isinstance(d, numba.core.dispatcher.Dispatcher) and d.signatures)

ran = []
real = lstm_sequence._as_tasks  # float32 LSTMs run their kernels in cfuncs (compiled at import)
lstm_sequence._as_tasks = lambda *a: ran.append(real(*a)) or ran[-1]
assert warmup.warm_up() > 0
for module in (conv, winograd, pooling, adam):
    assert used(module), module.__name__
assert used(lstm_sequence) or ran and all(ran), (ran, used(lstm_sequence))
print("ok")
"""


def test_warm_up_runs_dense_conv_pooling_and_lstm_kernels():
    # A new process: kernels other tests ran here must not count.
    proc = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr
