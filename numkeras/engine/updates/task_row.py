"""The argument row of an optimizer's update block run as a call task (``updates._Tasks``).

Eight int64 fields: ``[size, parameter, gradient, coefficients, slot 0, slot 1, slot 2, 0]``,
the arrays by address (float32; a slot the rule has not made is 0) and the rule's coefficients
as float32 at the coefficients address, in the order of its ``coefficients`` tuple (flags as
0 or 1). A rule's ``task`` reads its row with :func:`arrays` and calls its kernel.
"""

from __future__ import annotations

import numpy as np
from numba import carray, njit

from numkeras.engine.ops.pointers import array_at

FIELDS = 8
COEFFICIENTS = 16  # float32 coefficients a row's rule may read (Nadam has 9)


@njit(inline="always")
def arrays(row):  # pragma: no cover - compiled
    """``(parameter, gradient, coefficients, slot 0, slot 1, slot 2)`` of the row at ``row``
    (a slot the rule has not made is an empty array)."""
    args = carray(row, FIELDS)
    n = args[0]
    return (array_at(args[1], n, np.float32), array_at(args[2], n, np.float32),
            array_at(args[3], COEFFICIENTS, np.float32),
            array_at(args[4], n if args[4] else 0, np.float32),
            array_at(args[5], n if args[5] else 0, np.float32),
            array_at(args[6], n if args[6] else 0, np.float32))
