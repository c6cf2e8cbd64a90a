"""An export written by a newer pdesurrogate loads in this one: config.json keys this one does
not know, at the top level or inside the sections that only record (provenance, metrics), are
ignored with one NewerExportWarning naming them and both versions, when the export's
format_revision or pdesurrogate_version is later than this one's; in an export of this version
or an older one they are refused (a misspelling), and unknown keys inside the model, the
normalisation or a data-source record are refused whoever wrote them. PINN exports alike;
``pdesurrogate info`` warns once, as load does."""

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


def _metrics(validation=None, best=None) -> dict:
    """config.json's ``metrics``: a last validation and one best checkpoint, with extra keys."""
    return {"validation": {"epoch": 1, "global_step": 4, "values": {"val/rel_l2": 0.1},
                           **(validation or {})},
            "best": [{"monitor": "val/rel_l2", "score": 0.1, "path": None, **(best or {})}]}


# keys a newer pdesurrogate might add where config.json only records (as init_weights was added
# to provenance), each by the name the warning gives it, and how to add it to a config
RECORDED = {"provenance.cluster": lambda cfg: cfg["provenance"].update(cluster="jureca"),
            "metrics.validation.wall_s": lambda cfg: cfg.update(
                metrics=_metrics(validation={"wall_s": 3.5})),
            "metrics.best[0].mode": lambda cfg: cfg.update(metrics=_metrics(best={"mode": "min"}))}


def _add_all_recorded(cfg: dict) -> None:
    cfg["provenance"]["cluster"] = "jureca"
    cfg["metrics"] = _metrics(validation={"wall_s": 3.5}, best={"mode": "min"})


def _rewrite_recorded(out, names, **changes) -> dict:
    cfg = json.loads((out / "config.json").read_text())
    for name in names:
        RECORDED[name](cfg)
    cfg.update(changes)
    (out / "config.json").write_text(json.dumps(cfg))
    return cfg


@pytest.mark.parametrize("writer", [{"format_revision": FORMAT_REVISION + 1},
                                    {"pdesurrogate_version": "999.0.0"}],
                         ids=["later-format-revision", "later-pdesurrogate-version"])
def test_keys_a_newer_writer_added_inside_provenance_and_metrics_are_ignored_in_one_warning(
        exported, writer):
    """Keys inside the sections that only record (``provenance``, ``metrics``: its last
    validation and each best checkpoint) load from a newer writer, named with the top-level
    ones in the one warning; the surrogate predicts to the bit what it predicts without them."""
    u, p = torch.randn(2, 1, 16), torch.tensor([[0.08], [0.12]])
    ref = load(exported).rollout(u, p, 2)
    cfg = json.loads((exported / "config.json").read_text())
    _add_all_recorded(cfg)
    (exported / "config.json").write_text(json.dumps({**cfg, "license": "CC-BY", **writer}))
    sur, warned = _load_warned(exported)
    assert len(warned) == 1
    assert re.search(r"config\.json': ignoring key\(s\) \['license', 'metrics\.best\[0\]\.mode', "
                     r"'metrics\.validation\.wall_s', 'provenance\.cluster'\], which this "
                     r"pdesurrogate \(", str(warned[0].message))
    torch.testing.assert_close(sur.rollout(u, p, 2), ref, atol=0, rtol=0)


@pytest.mark.parametrize("name", list(RECORDED))
@pytest.mark.parametrize("writer", [{}, {"format_revision": 0, "pdesurrogate_version": "0.0.1"}],
                         ids=["this-version", "older"])
def test_an_unknown_key_inside_provenance_or_metrics_of_this_or_an_older_writer_is_refused(
        exported, writer, name):
    """In an export of this version or an older one such a key is a misspelling: refused,
    naming it, nothing warned."""
    _rewrite_recorded(exported, [name], **writer)
    key = name.rsplit(".", 1)[-1]
    with warnings.catch_warnings():
        warnings.simplefilter("error", NewerExportWarning)
        with pytest.raises(ValueError, match=rf"config\.json'.*{key}"):
            load(exported)


def test_a_newer_writers_recorded_sections_are_still_checked_key_by_key(exported):
    """Only the keys this pdesurrogate does not know are dropped: a known key of the wrong type,
    or a data-source record with a key it does not know (a fit started from these weights would
    copy the record into its own export), is refused from a newer writer too."""
    newer = {"format_revision": FORMAT_REVISION + 1}
    cfg = json.loads((exported / "config.json").read_text())
    _rewrite(exported, **newer, provenance={**cfg["provenance"], "epoch": "3", "cluster": "x"})
    with pytest.warns(NewerExportWarning, match=r"\['provenance\.cluster'\]"), \
            pytest.raises(ValueError, match=r"provenance\.epoch must be an int or null, got '3'"):
        load(exported)
    source = {"path": "/d.nc", "fingerprint": "sha256:" + "0" * 64, "n_trajectories": 4,
              "fractions": [0.5, 0.25, 0.25], "seed": 0, "max_train_trajectories": None}
    _rewrite(exported, **newer, provenance={**cfg["provenance"], "data_source": source})
    assert load(exported).config["provenance"]["data_source"] == source
    _rewrite(exported, **newer,
             provenance={**cfg["provenance"], "data_source": {**source, "host": "x"}})
    with pytest.raises(ValueError, match=r"config\.json.*provenance\.data_source.*host"):
        load(exported)


def test_info_checks_config_json_once_so_warns_once(exported):
    """``pdesurrogate info`` checks an export as ``load`` does: once, so one warning for a
    newer writer's keys even when every warning is shown."""
    from pdesurrogate.info import describe

    _rewrite(exported, license="CC-BY", format_revision=FORMAT_REVISION + 1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        info = describe(exported)
    assert [str(w.message).count("'license'") for w in caught
            if issubclass(w.category, NewerExportWarning)] == [1]
    assert info["checked_against_model"] is True


@pytest.fixture
def pinn_export(tmp_path):
    from pdesurrogate.pinn import SDGD, PINNModule, SineGordon

    torch.manual_seed(0)
    return export_surrogate(PINNModule(SineGordon(3, seed=1), SDGD(2), width=8, depth=2),
                            tmp_path / "pinn")


@pytest.mark.parametrize("writer", [{"format_revision": FORMAT_REVISION + 1},
                                    {"pdesurrogate_version": "999.0.0"}],
                         ids=["later-format-revision", "later-pdesurrogate-version"])
def test_a_pinn_export_of_a_newer_writer_loads_with_one_warning(pinn_export, writer):
    """A PINN export records its format revision; a newer writer's keys at its top level and
    inside provenance and metrics are ignored with one warning, as a field surrogate's; the PINN
    computes to the bit what it computes without them."""
    from pdesurrogate.pinn import sample_ball

    cfg = json.loads((pinn_export / "config.json").read_text())
    assert cfg["format_revision"] == FORMAT_REVISION
    x = sample_ball(5, 3)
    ref = load(pinn_export)(x)
    _add_all_recorded(cfg)
    (pinn_export / "config.json").write_text(json.dumps({**cfg, "license": "CC-BY", **writer}))
    sur, warned = _load_warned(pinn_export)
    assert len(warned) == 1
    assert re.search(r"config\.json': ignoring key\(s\) \['license', 'metrics\.best\[0\]\.mode', "
                     r"'metrics\.validation\.wall_s', 'provenance\.cluster'\]",
                     str(warned[0].message))
    torch.testing.assert_close(sur(x), ref, atol=0, rtol=0)


def _misspelt(cfg: dict) -> str:
    cfg["license"] = "CC-BY"
    return r"unknown key\(s\) \['license'\]"


def _misspelt_in_provenance(cfg: dict) -> str:
    RECORDED["provenance.cluster"](cfg)
    return r"provenance has unknown key\(s\) \['cluster'\]"


def _newer_network(cfg: dict) -> str:
    cfg["network"]["init_args"]["init"] = "xavier"
    cfg["format_revision"] = FORMAT_REVISION + 1
    return r"network must be .*'init': 'xavier'"


@pytest.mark.parametrize("change", [_misspelt, _misspelt_in_provenance, _newer_network],
                         ids=["top-level", "provenance", "network-of-a-newer-writer"])
def test_a_pinn_exports_unknown_key_is_refused_from_this_writer_or_inside_its_network(
        pinn_export, change):
    """From this pdesurrogate the same keys are refused; inside the network (what it computes)
    they are refused from a newer writer too."""
    cfg = json.loads((pinn_export / "config.json").read_text())
    match = change(cfg)
    (pinn_export / "config.json").write_text(json.dumps(cfg))
    with warnings.catch_warnings():
        warnings.simplefilter("error", NewerExportWarning)
        with pytest.raises(ValueError, match=match):
            load(pinn_export)
