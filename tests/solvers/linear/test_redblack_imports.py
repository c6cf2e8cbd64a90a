"""redblack_sor's checks stay cheap: the first heat2d or darcy2d solve of a generate worker does
not import sympy (torch.broadcast_shapes' first call did: 0.7-2 s per process), and a stencil
that does not broadcast to ``b`` is still refused by name."""

import subprocess
import sys

import pytest
import torch

from pdesurrogate.solvers.linear.redblack import Stencil, redblack_sor

SCRIPT = """
import sys
from pdesurrogate.solvers.darcy import Darcy2D
from pdesurrogate.solvers.heat import Heat2D
for s in (Heat2D(n=8), Darcy2D(n=8)):
    u0, p = s.sample(2, seed=0)
    s.solve(u0, p, [0.0, 0.01])
loaded = sorted(m for m in ("sympy", "torch.fx.experimental.symbolic_shapes") if m in sys.modules)
print(",".join(loaded) or "none")
"""


def test_heat_and_darcy_solves_import_no_sympy():
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                         timeout=120, check=True)
    assert out.stdout.strip() == "none", out.stdout + out.stderr


@pytest.mark.parametrize("shape", [(2, 3, 4), (3, 3, 3), (1, 2, 3, 3)])
def test_stencil_not_broadcasting_to_b_is_refused(shape):
    b = torch.ones(2, 3, 3, dtype=torch.float64)
    ok = torch.ones(1, 3, 3, dtype=torch.float64)
    bad = torch.ones(shape, dtype=torch.float64)
    st = Stencil(4 * ok, -ok, -ok, -ok, bad)
    with pytest.raises(ValueError, match=r"stencil\.north of shape .* does not broadcast to "
                                         r"b's shape \(2, 3, 3\)"):
        redblack_sor(st, b)


def test_broadcasting_stencil_is_accepted():
    b = torch.ones(2, 3, 3, dtype=torch.float64)
    one = torch.ones(3, 3, dtype=torch.float64)
    res = redblack_sor(Stencil(4 * one, -one, -one, -one, -one), b, omega=1.2, rtol=1e-10)
    assert bool(res.converged.all())
