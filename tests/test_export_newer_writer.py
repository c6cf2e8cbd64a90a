"""An export written by a newer pdesurrogate loads in this one: top-level config.json keys this
one does not know are ignored with one NewerExportWarning naming them and both versions, when
the export's format_revision or pdesurrogate_version is later than this one's; in an export of
this version or an older one they are refused (a misspelling), and unknown keys inside the
model or the normalisation are refused whoever wrote them."""

import json
import re
import warnings

import pytest
import torch

from pdesurrogate.datasets import ChannelStats
from pdesurrogate.export import export_surrogate
from pdesurrogate.export_checks import FORMAT_REVISION, NewerExportWarning
from pdesurrogate.export_files import package_version
from pdesurrogate.loading import load
from pdesurrogate.models import FNO
from pdesurrogate.training import NextStepModule

STATS = ChannelStats(mean=[0.5], std=[2.0], spatial_dims=1, param_names=["nu"],
                     param_mean=[0.1], param_std=[0.02], param_min=[0.05], param_max=[0.15])
INFO = {"pde": "toy", "grid_shape": [16], "channel_names": ["u"], "param_names": ["nu"],
        "k": 1, "dt": 0.1}


@pytest.fixture
def exported(tmp_path):
    torch.manual_seed(0)
    m = NextStepModule(FNO(1, 1, [4], 8, 2, n_params=1), residual=True)
    m.set_normalization(STATS)
    m.data_info = dict(INFO)
    return export_surrogate(m, tmp_path / "sur")


def _rewrite(out, **changes) -> dict:
    cfg = json.loads((out / "config.json").read_text())
    cfg.update(changes)
    (out / "config.json").write_text(json.dumps(cfg))
    return cfg


def _load_warned(out) -> tuple:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sur = load(out)
    return sur, [w for w in caught if issubclass(w.category, NewerExportWarning)]


@pytest.mark.parametrize("writer", [{"format_revision": FORMAT_REVISION + 1},
                                    {"pdesurrogate_version": "999.0.0"}],
                         ids=["later-format-revision", "later-pdesurrogate-version"])
def test_unknown_keys_of_a_newer_writer_are_ignored_with_one_warning(exported, writer):
    """Keys a newer pdesurrogate added (a recorded ``calibration``, ``license``) load with one
    warning naming them, the writer's version and this one's; the surrogate predicts to the bit
    what the same export without them predicts."""
    u, p = torch.randn(3, 1, 16), torch.tensor([[0.08], [0.1], [0.12]])
    ref = load(exported).rollout(u, p, 3)
    cfg = _rewrite(exported, calibration={"ece": 0.1}, license="CC-BY", **writer)
    sur, warned = _load_warned(exported)
    assert len(warned) == 1
    message = str(warned[0].message)
    assert "\n" not in message
    assert re.search(r"config\.json': ignoring key\(s\) \['calibration', 'license'\]", message)
    assert f"this pdesurrogate ({package_version()}, format revision {FORMAT_REVISION})" \
        in message
    assert (f"written by a newer one ({cfg['pdesurrogate_version']}, format revision "
            f"{cfg['format_revision']})") in message
    torch.testing.assert_close(sur.rollout(u, p, 3), ref, atol=0, rtol=0)


@pytest.mark.parametrize("writer", [{}, {"format_revision": 0, "pdesurrogate_version": "0.0.1"},
                                    {"pdesurrogate_version": "unknown"}],
                         ids=["this-version", "older", "version-unknown"])
def test_an_unknown_key_of_this_or_an_older_writer_is_refused_naming_it(exported, writer):
    """The export records this pdesurrogate's format revision; a key it does not know in an
    export of this version or an older one (or a bare source tree's, version "unknown") is a
    misspelling: the error names it alone, and nothing is warned."""
    cfg = _rewrite(exported, chanel_names=["u"], **writer)
    assert cfg["format_revision"] == (writer.get("format_revision", FORMAT_REVISION))
    with warnings.catch_warnings():
        warnings.simplefilter("error", NewerExportWarning)
        with pytest.raises(ValueError, match=r"config\.json': unknown key\(s\) "
                                             r"\['chanel_names'\], missing key\(s\) \[\]"):
            load(exported)


def test_unknown_keys_inside_the_model_or_normalization_of_a_newer_writer_are_refused(exported):
    """A newer model or normalisation this pdesurrogate cannot build is refused naming the key,
    whoever wrote the export."""
    good = json.loads((exported / "config.json").read_text())
    newer = {"format_revision": FORMAT_REVISION + 1}
    cfg = json.loads(json.dumps(good))
    cfg["model"]["init_args"]["spectral_gate"] = True
    _rewrite(exported, **{**cfg, **newer})
    with pytest.raises(ValueError, match="config.json.*spectral_gate"):
        load(exported)
    cfg = json.loads(json.dumps(good))
    cfg["normalization"]["log_scale"] = [False]
    _rewrite(exported, **{**cfg, **newer})
    with pytest.raises(ValueError, match=r"config.json.*unknown keys \['log_scale'\]"):
        load(exported)


def test_another_format_version_is_refused_even_from_a_newer_writer(exported):
    _rewrite(exported, format_version=2, format_revision=FORMAT_REVISION + 1,
             pdesurrogate_version="999.0.0")
    with pytest.raises(ValueError, match="format_version 2 is not supported"):
        load(exported)


def test_a_bad_format_revision_is_refused_naming_it(exported):
    _rewrite(exported, format_revision="2")
    with pytest.raises(ValueError, match=r"format_revision must be an int >= 0, got '2'"):
        load(exported)
