"""pdesurrogate.metrics: each PDEBench-style error against a value known in closed form
(Fourier modes, constant offsets, boundary-only errors), its invariances, the batched sums and
the refusals of bad input. Arrays of a few hundred points, milliseconds."""

import math

import numpy as np
import pytest

from pdesurrogate.metrics import (
    NAMES,
    ErrorSums,
    band_masks,
    boundary_mask,
    field_errors,
    trajectory_errors,
)

RNG = np.random.default_rng(0)


def _with_error(e: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A random truth of ``e``'s shape and the prediction truth + e."""
    truth = RNG.standard_normal(e.shape)
    return truth + e, truth


@pytest.mark.parametrize("k, band", [(1, "low"), (4, "low"), (5, "mid"), (12, "mid"),
                                     (13, "high"), (31, "high")])
def test_a_1d_fourier_mode_lands_in_its_band_with_its_rms(k, band):
    """An error A cos(2 pi k x) on 64 points has RMS A / sqrt(2), all of it in the band
    holding k (1-D bands 0-4, 5-12, 13+), none in the others."""
    nx, amp = 64, 0.3
    x = np.arange(nx) / nx
    e = np.broadcast_to(amp * np.cos(2 * np.pi * k * x + 0.4), (2, 1, 1, nx)).copy()
    r = field_errors(*_with_error(e))
    rms = amp / math.sqrt(2)
    for b in ("low", "mid", "high"):
        want = rms if b == band else 0.0
        assert r[f"frmse_{b}"][0] == pytest.approx(want, abs=1e-12), (k, b)
    assert r["rmse"][0] == pytest.approx(rms, rel=1e-12)
    assert r["crmse"][0] == pytest.approx(0.0, abs=1e-12)  # a mode k > 0 has zero mean


def test_the_nyquist_mode_is_high_with_rms_its_amplitude():
    """(-1)^j on 32 points is the mode |k| = 16: RMS A (not A / sqrt(2)), in the high band."""
    e = (0.5 * (-1.0) ** np.arange(32)).reshape(1, 1, 1, 32)
    r = field_errors(*_with_error(e))
    assert r["frmse_high"][0] == pytest.approx(0.5, rel=1e-12)
    assert r["frmse_low"][0] == pytest.approx(0.0, abs=1e-12)
    assert r["frmse_mid"][0] == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("ky, kx, band", [(3, 0, "low"), (0, 4, "low"), (4, 1, "mid"),
                                          (8, 8, "mid"), (0, 13, "high"), (9, 9, "high")])
def test_a_2d_fourier_mode_lands_in_the_band_of_its_wavenumber_norm(ky, kx, band):
    """On a (32, 40) grid an error A sin(2 pi (ky y + kx x)) has RMS A / sqrt(2) in the band of
    |k| = sqrt(ky^2 + kx^2), unrounded: (4, 1) is 4.12, mid; (9, 9) is 12.7, high."""
    ny, nx, amp = 32, 40, 2.0
    y, x = np.meshgrid(np.arange(ny) / ny, np.arange(nx) / nx, indexing="ij")
    e = np.broadcast_to(amp * np.sin(2 * np.pi * (ky * y + kx * x)), (1, 2, 1, ny, nx)).copy()
    r = field_errors(*_with_error(e))
    for b in ("low", "mid", "high"):
        want = amp / math.sqrt(2) if b == band else 0.0
        assert r[f"frmse_{b}"] == pytest.approx([want, want], abs=1e-12), (ky, kx, b)


def test_the_bands_add_up_in_squares_to_the_rmse():
    """Parseval: for one trajectory and channel, low^2 + mid^2 + high^2 = rmse^2."""
    pred, truth = RNG.standard_normal((1, 3, 1, 24, 20)), RNG.standard_normal((1, 3, 1, 24, 20))
    r = trajectory_errors(pred, truth)
    total = r["frmse_low"] ** 2 + r["frmse_mid"] ** 2 + r["frmse_high"] ** 2
    np.testing.assert_allclose(total, r["rmse"] ** 2, rtol=1e-12)
    rmse = np.sqrt(((pred - truth) ** 2).mean(axis=(2, 3, 4)))
    np.testing.assert_allclose(r["rmse"], rmse, rtol=1e-12)


def test_a_constant_offset_is_all_crmse_and_low_band():
    """An error a_c constant over the grid (per channel) is its own spatial mean: crmse,
    rmse, brmse and the low band are the channel mean of |a_c|; mid and high are 0; the max
    error is the largest |a_c|."""
    offsets = np.array([0.2, -0.6])
    e = np.broadcast_to(offsets[None, None, :, None, None], (3, 2, 2, 6, 28)).copy()
    r = field_errors(*_with_error(e))
    for name in ("crmse", "rmse", "brmse", "frmse_low"):
        np.testing.assert_allclose(r[name], [0.4, 0.4], rtol=1e-12, err_msg=name)
    for name in ("frmse_mid", "frmse_high"):
        np.testing.assert_allclose(r[name], [0, 0], atol=1e-12, err_msg=name)
    np.testing.assert_allclose(r["max_error"], [0.6, 0.6], rtol=1e-12)


def test_an_error_at_the_1d_ends_is_all_brmse():
    """1-D: the boundary is the two end points. Errors 3 and 4 there: brmse sqrt(25 / 2),
    rmse sqrt(25 / 10); an error inside only: brmse 0."""
    e = np.zeros((1, 1, 1, 10))
    e[..., 0], e[..., -1] = 3.0, 4.0
    r = field_errors(*_with_error(e))
    assert r["brmse"][0] == pytest.approx(math.sqrt(12.5), rel=1e-12)
    assert r["rmse"][0] == pytest.approx(math.sqrt(2.5), rel=1e-12)
    assert r["max_error"][0] == pytest.approx(4.0, rel=1e-12)
    inside = np.zeros((1, 1, 1, 10))
    inside[..., 1:-1] = 1.0
    r = field_errors(*_with_error(inside))
    assert r["brmse"][0] == pytest.approx(0.0, abs=1e-12)
    assert r["rmse"][0] == pytest.approx(math.sqrt(0.8), rel=1e-12)


def test_the_2d_boundary_is_the_outer_ring_each_point_once():
    """(5, 6) grid: 2*6 + 2*5 - 4 = 18 boundary points. An error 2 on all of them: brmse 2,
    rmse 2 sqrt(18/30); an error 1 at one corner only: brmse sqrt(1/18) (counted once)."""
    assert boundary_mask((5, 6)).sum() == 18
    ring = np.where(boundary_mask((5, 6)), 2.0, 0.0)[None, None, None]
    r = field_errors(*_with_error(ring))
    assert r["brmse"][0] == pytest.approx(2.0, rel=1e-12)
    assert r["rmse"][0] == pytest.approx(2 * math.sqrt(18 / 30), rel=1e-12)
    corner = np.zeros((1, 1, 1, 5, 6))
    corner[..., -1, 0] = 1.0
    r = field_errors(*_with_error(corner))
    assert r["brmse"][0] == pytest.approx(math.sqrt(1 / 18), rel=1e-12)


def test_nrmse_is_per_channel_and_invariant_under_scaling():
    """nRMSE is each channel's ||e|| / ||u|| averaged over channels: truths 1 and 100 with
    errors 0.1 and 1 give (0.1 + 0.01) / 2 = 0.055 (pooling the channels would give ~0.01).
    Multiplying both fields by one factor leaves it as it is and scales the rmse."""
    truth = np.stack([np.ones((4, 8)), np.full((4, 8), 100.0)])[None, None]
    e = np.stack([np.full((4, 8), 0.1), np.ones((4, 8))])[None, None]
    r = field_errors(truth + e, truth)
    assert r["nrmse"][0] == pytest.approx(0.055, rel=1e-12)
    pred, truth = RNG.standard_normal((3, 2, 2, 16)), RNG.standard_normal((3, 2, 2, 16))
    base = field_errors(pred, truth)
    for s in (1e-3, 7.0):
        scaled = field_errors(s * pred, s * truth)
        np.testing.assert_allclose(scaled["nrmse"], base["nrmse"], rtol=1e-12)
        np.testing.assert_allclose(scaled["rmse"], s * base["rmse"], rtol=1e-12)


def test_frames_are_kept_apart_and_trajectories_averaged_max_error_the_largest():
    """Trajectory 0 errs by 1 everywhere in every frame, trajectory 1 by 3 in frame 1 only:
    per frame the rmse is the mean over trajectories (0.5, 2), the max error the largest
    (1, 3)."""
    e = np.zeros((2, 2, 1, 8))
    e[0] = 1.0
    e[1, 1] = 3.0
    r = field_errors(*_with_error(e))
    np.testing.assert_allclose(r["rmse"], [0.5, 2.0], rtol=1e-12)
    np.testing.assert_allclose(r["max_error"], [1.0, 3.0], rtol=1e-12)
    assert list(r) == list(NAMES)
    assert trajectory_errors(*_with_error(e))["rmse"].shape == (2, 2)


def test_batched_sums_equal_the_one_shot_computation():
    """Seven trajectories added in batches of 1, 2 and 4 give what one direct computation over
    all seven gives (numpy formulas here, written apart from the module's)."""
    pred, truth = RNG.standard_normal((7, 3, 2, 12, 10)), RNG.standard_normal((7, 3, 2, 12, 10))
    sums = ErrorSums(3)
    for a, b in ((0, 1), (1, 3), (3, 7)):
        sums.add(pred[a:b], truth[a:b])
    got = sums.result()
    assert sums.count == 7
    e = pred - truth
    grid = (3, 4)
    want = {
        "rmse": np.sqrt((e**2).mean(axis=grid)).mean(axis=(0, 2)),
        "nrmse": (np.sqrt((e**2).sum(axis=grid)) / np.sqrt((truth**2).sum(axis=grid)))
        .mean(axis=(0, 2)),
        "vrmse": np.sqrt((e**2).mean(axis=grid) / (truth.var(axis=grid) + 1e-7))
        .mean(axis=(0, 2)),
        "max_error": np.abs(e).max(axis=(0, 2, 3, 4)),
        "crmse": np.abs(e.mean(axis=grid)).mean(axis=(0, 2)),
        "brmse": np.sqrt((e[..., boundary_mask((12, 10))] ** 2).mean(axis=-1)).mean(axis=(0, 2)),
    }
    power = np.abs(np.fft.fft2(e)) ** 2
    for band, m in band_masks((12, 10)).items():
        # (12, 10): the largest |k| is sqrt(6^2 + 5^2), no mode in the high band: NaN
        want[f"frmse_{band}"] = ((np.sqrt(power[..., m].sum(axis=-1)) / 120).mean(axis=(0, 2))
                                 if m.any() else np.full(3, np.nan))
    for name in NAMES:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-12, err_msg=name)
    one = field_errors(pred, truth)
    for name in NAMES:
        np.testing.assert_array_equal(got[name], one[name], err_msg=name)


def test_the_chunks_of_trajectories_change_nothing(monkeypatch):
    """Trajectories taken one per chunk (CHUNK_VALUES below one frame) give the same values,
    bit for bit, as all five in one chunk."""
    import pdesurrogate.metrics as metrics

    pred, truth = RNG.standard_normal((5, 2, 3, 9, 7)), RNG.standard_normal((5, 2, 3, 9, 7))
    whole = trajectory_errors(pred, truth)
    monkeypatch.setattr(metrics, "CHUNK_VALUES", 1)
    alone = trajectory_errors(pred, truth)
    for name in NAMES:
        np.testing.assert_array_equal(alone[name], whole[name], err_msg=name)
    e = pred - truth
    np.testing.assert_allclose(whole["rmse"], np.sqrt((e**2).mean(axis=(3, 4))).mean(axis=2),
                               rtol=1e-12)


def test_the_bands_partition_the_spectrum():
    """Every Fourier mode of a grid is in exactly one band, the mean (k = 0) in the low one."""
    for grid in ((17,), (32,), (9, 14)):
        masks = band_masks(grid)
        assert (sum(m.astype(int) for m in masks.values()) == 1).all(), grid
        assert masks["low"].flat[0]


@pytest.mark.parametrize("pred_shape, truth_shape, match", [
    ((2, 3, 1, 8), (2, 3, 1, 9), "same shape"),
    ((2, 3, 8), (2, 3, 8), "at least one grid axis"),
    ((0, 3, 1, 8), (0, 3, 1, 8), "empty axis"),
])
def test_bad_shapes_are_refused(pred_shape, truth_shape, match):
    with pytest.raises(ValueError, match=match):
        field_errors(np.zeros(pred_shape), np.ones(truth_shape))


@pytest.mark.parametrize("which", ["pred", "truth"])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_a_nan_or_inf_is_refused_naming_where(which, bad):
    pred, truth = np.zeros((3, 2, 2, 8)), np.ones((3, 2, 2, 8))
    (pred if which == "pred" else truth)[2, 1, 1, 5] = bad
    with pytest.raises(ValueError, match=rf"{which} is not finite .* trajectory 2 .*frame 1, "
                                         r"channel 1"):
        field_errors(pred, truth)
    # a batch's trajectories are named by their place among all those added
    sums = ErrorSums(2)
    sums.add(np.zeros((4, 2, 2, 8)), np.ones((4, 2, 2, 8)))
    with pytest.raises(ValueError, match=r"trajectory 6 "):
        sums.add(pred, truth)


def test_other_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="real numeric"):
        field_errors(np.zeros((1, 1, 1, 4), complex), np.zeros((1, 1, 1, 4)))
    with pytest.raises(ValueError, match="frames must be an int >= 1"):
        ErrorSums(0)
    sums = ErrorSums(3)
    with pytest.raises(ValueError, match="no trajectories"):
        sums.result()
    with pytest.raises(ValueError, match="made for 3 frames; this batch has 2"):
        sums.add(np.zeros((1, 2, 1, 4)), np.ones((1, 2, 1, 4)))
