"""NavierStokes2D(channels=3): the state is [vorticity, vx, vy], the velocity derived from the
vorticity. Before, channels=3 was refused ('channels must be 1'), so a 2-D user who wanted a
surrogate of the velocity field had no way to generate it."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from pdesurrogate.datasets import open_dataset
from pdesurrogate.datasets.generate import generate_dataset
from pdesurrogate.solvers.navier_stokes import NavierStokes2D


def test_taylor_green_velocity_decays_exactly():
    """psi = sin(2 pi k x) sin(2 pi k y) / (2 (2 pi k)^2) gives w = sin sin, vx = d psi/dy,
    vy = -d psi/dx, a steady Euler flow decaying as exp(-2 nu (2 pi k)^2 t): all three
    channels of the state match it to 1e-12 at t = 0 and t = 0.5 (float64, n = 16)."""
    s = NavierStokes2D(n=16, forcing="none", dt=1e-3, channels=3)
    assert s.channel_names == ("vorticity", "vx", "vy") and s.channels == 3
    x, y = s.grid[1].reshape(1, -1), s.grid[0].reshape(-1, 1)
    ks = (1, 2)
    nu = torch.tensor([1e-3, 3e-4], dtype=torch.float64)

    def exact(k: int) -> torch.Tensor:
        a, c = 2 * math.pi * k, 1 / (2 * (2 * math.pi * k) ** 2)
        return torch.stack([torch.sin(a * x) * torch.sin(a * y),
                            c * a * torch.sin(a * x) * torch.cos(a * y),
                            -c * a * torch.cos(a * x) * torch.sin(a * y)])

    w0 = torch.stack([exact(k)[:1] for k in ks])
    u0 = s._with_velocity(w0)
    want0 = torch.stack([exact(k) for k in ks])
    assert u0.shape == (2, 3, 16, 16)
    torch.testing.assert_close(u0, want0, rtol=0, atol=1e-13)
    # the velocity channels of the input are not read: zeros there change nothing
    got = s.advance(torch.cat([w0, torch.zeros(2, 2, 16, 16, dtype=torch.float64)], 1),
                    {"nu": nu}, 0.5)
    for i, k in enumerate(ks):
        decay = math.exp(-float(nu[i]) * 2 * (2 * math.pi * k) ** 2 * 0.5)
        torch.testing.assert_close(got[i], decay * want0[i], rtol=0, atol=1e-12)


def test_the_velocity_channels_follow_the_vorticity_channel():
    """A turbulent sample: channels 1-2 are the spectral velocity of channel 0 at every saved
    time, channel 0 is what channels=1 gives, and the velocity is divergence-free."""
    one, three = NavierStokes2D(n=16), NavierStokes2D(n=16, channels=3)
    w, p = one.sample(2, seed=3, dtype=torch.float64)
    u, q = three.sample(2, seed=3, dtype=torch.float64)
    torch.testing.assert_close(u[:, :1], w, rtol=0, atol=0)
    torch.testing.assert_close(q["nu"], p["nu"])
    w1, u1 = one.advance(w, p, 0.5), three.advance(u, q, 0.5)
    torch.testing.assert_close(u1[:, :1], w1, rtol=0, atol=0)
    vx, vy = one.velocity(w1)
    torch.testing.assert_close(u1[:, 1], vx, rtol=0, atol=0)
    torch.testing.assert_close(u1[:, 2], vy, rtol=0, atol=0)
    # divergence-free in every mode but the Nyquist ones (whose derivative a real field
    # cannot hold): k . v_hat = 0
    k = torch.fft.fftfreq(16, d=1 / 16, dtype=torch.float64)
    div_hat = k.reshape(1, -1) * torch.fft.fft2(vx) + k.reshape(-1, 1) * torch.fft.fft2(vy)
    inner = (k.abs() < 8).reshape(1, -1) & (k.abs() < 8).reshape(-1, 1)
    assert float(div_hat[:, inner].abs().max()) < 1e-12
    assert float(vx.abs().max()) > 1e-3  # a flow, not zeros


@pytest.mark.parametrize("bad", [2, 4, 0, 1.5, True])
def test_other_channel_counts_are_refused(bad):
    with pytest.raises(ValueError, match=r"channels must be 1 \(vorticity\) or 3"):
        NavierStokes2D(n=16, channels=bad)


def test_a_generated_file_names_the_three_channels(tmp_path):
    s = NavierStokes2D(n=16, channels=3)
    out = tmp_path / "ns3.nc"
    generate_dataset(s, out, 2, [0.0, 0.2], seed=0, workers=1, progress=False)
    data = open_dataset(out)
    assert data.channel_names == ("vorticity", "vx", "vy")
    assert data.u.shape == (2, 2, 3, 16, 16)
    u = torch.from_numpy(np.asarray(data.u[:, 1], dtype=np.float64))
    vx, vy = s.velocity(u[:, :1])
    np.testing.assert_allclose(u[:, 1].numpy(), vx.numpy(), atol=1e-6)
    np.testing.assert_allclose(u[:, 2].numpy(), vy.numpy(), atol=1e-6)
