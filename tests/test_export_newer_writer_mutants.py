"""What tells a newer export from an older one, each case killing a mutant of
:mod:`pdesurrogate.export_checks` that tests/test_export_newer_writer.py let live: versions
ordered as PEP 440 orders them (0.10.0 after 0.9.0, a prerelease before its release), a newer
export without new keys loading silently, every element of a list looked into, a null section,
bad format revisions refused and an export of a newer format refused saying to upgrade."""

import json
import warnings

import pytest

from pdesurrogate.export_checks import FORMAT_REVISION, NewerExportWarning
from pdesurrogate.export_files import FORMAT_VERSION
from pdesurrogate.loading import load

from .test_export_newer_writer import (  # noqa: F401 (fixtures)
    _load_warned,
    _metrics,
    _rewrite,
    exported,
    pinn_export,
)


@pytest.mark.parametrize(("ours", "theirs", "newer"), [
    ("0.9.0", "0.10.0", True),  # numbers, not text
    ("0.1.0", "0.2.0", True),  # the minor number counts
    ("0.1.0", "1.0", True),
    ("0.2.0rc1", "0.2.0", True),  # a prerelease install reads its release's exports
    ("0.2.0.dev3", "0.2.0", True),
    ("0.1.0", "0.1.0.post1", True),
    ("0.2.0", "0.2.0rc1", False),
    ("0.2.0", "0.2.0.dev3", False),
    ("0.1.0", "0.1.0+g1234abc", False),  # a build of 0.1.0's sources
    ("0.10.0", "0.9.0", False),
    ("unknown", "0.2.0", False),  # a bare source tree: only format_revision tells
])
def test_the_writers_version_is_ordered_as_pep_440_orders_it(exported, monkeypatch,  # noqa: F811
                                                              ours, theirs, newer):
    monkeypatch.setattr("pdesurrogate.export_checks.package_version", lambda: ours)
    _rewrite(exported, license="CC-BY", pdesurrogate_version=theirs)
    if newer:
        _, warned = _load_warned(exported)
        assert len(warned) == 1 and f"written by a newer one ({theirs}, format revision " \
            f"{FORMAT_REVISION})" in str(warned[0].message)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("error", NewerExportWarning)
            with pytest.raises(ValueError, match=r"unknown key\(s\) \['license'\]"):
                load(exported)


def test_a_newer_export_without_new_keys_loads_without_a_warning(exported):  # noqa: F811
    _rewrite(exported, format_revision=FORMAT_REVISION + 1, pdesurrogate_version="999.0.0")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load(exported)


def test_every_best_checkpoint_is_looked_into(exported):  # noqa: F811
    """A key a newer writer added to the second best checkpoint is named at its index."""
    metrics = _metrics()
    metrics["best"].append({**metrics["best"][0], "score": 0.2, "mode": "min"})
    _rewrite(exported, metrics=metrics, format_revision=FORMAT_REVISION + 1)
    sur, warned = _load_warned(exported)
    assert len(warned) == 1 and "['metrics.best[1].mode']" in str(warned[0].message)
    assert [b["score"] for b in sur.config["metrics"]["best"]] == [0.1, 0.2]


def test_a_null_metrics_section_of_a_newer_writer_loads(exported):  # noqa: F811
    _rewrite(exported, metrics=None, license="CC-BY", format_revision=FORMAT_REVISION + 1)
    _, warned = _load_warned(exported)
    assert len(warned) == 1 and "['license']" in str(warned[0].message)


@pytest.mark.parametrize("revision", [True, -1, 1.5, "2", None])
def test_a_format_revision_that_is_no_int_from_0_is_refused(exported, revision):  # noqa: F811
    """Refused naming it, whatever keys the export has (a new key is not named instead)."""
    _rewrite(exported, format_revision=revision, license="CC-BY")
    with pytest.raises(ValueError, match=rf"format_revision must be an int >= 0, got "
                                         rf"{revision!r}"):
        load(exported)


def _without(out, key: str) -> None:
    cfg = json.loads((out / "config.json").read_text())
    del cfg[key]
    (out / "config.json").write_text(json.dumps(cfg))


@pytest.mark.parametrize("revision", [0, "absent"])
def test_an_export_before_format_revision_loads(exported, revision):  # noqa: F811
    if revision == "absent":
        _without(exported, "format_revision")
    else:
        _rewrite(exported, format_revision=revision)
    load(exported)


def _newer_format(out) -> dict:
    """config.json as a newer pdesurrogate of another format might write it: keys renamed."""
    cfg = json.loads((out / "config.json").read_text())
    cfg["grid"] = cfg.pop("grid_shape")
    cfg.update(format_version=FORMAT_VERSION + 1, pdesurrogate_version="9.0.0")
    (out / "config.json").write_text(json.dumps(cfg))
    return cfg


def test_an_export_of_a_newer_format_is_refused_saying_to_upgrade(exported):  # noqa: F811
    """Not its keys (which a newer format may rename) but its format, the version that wrote it
    and what to do."""
    _newer_format(exported)
    with pytest.raises(ValueError) as e:
        load(exported)
    message = str(e.value)
    assert f"format_version {FORMAT_VERSION + 1} is not supported" in message
    assert "written by a newer pdesurrogate (9.0.0): upgrade this one" in message
    assert "pip install --upgrade pdesurrogate" in message and "grid" not in message


def test_a_pinn_export_of_a_newer_format_is_refused_saying_to_upgrade(pinn_export):  # noqa: F811
    cfg = json.loads((pinn_export / "config.json").read_text())
    cfg.update(format_version=FORMAT_VERSION + 1, pdesurrogate_version="9.0.0", domain="ball")
    (pinn_export / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match=r"format_version 2 is not supported.*written by a newer "
                                         r"pdesurrogate \(9\.0\.0\): upgrade this one"):
        load(pinn_export)


@pytest.mark.parametrize("version", [True, 1.0, "1", 0])
def test_a_format_version_other_than_this_ones_int_is_refused(exported, version):  # noqa: F811
    _rewrite(exported, format_version=version)
    with pytest.raises(ValueError, match=rf"format_version {version!r} is not supported") as e:
        load(exported)
    assert "upgrade" not in str(e.value)


def test_a_kind_of_a_newer_writer_is_refused_saying_to_upgrade(exported):  # noqa: F811
    _rewrite(exported, kind="graph", format_revision=FORMAT_REVISION + 1)
    with pytest.raises(ValueError, match=r"kind must be .*got 'graph'; the export was written by "
                                         r"a newer pdesurrogate .*: upgrade this one"):
        load(exported)


def test_a_newer_writers_known_optional_provenance_is_kept(exported):  # noqa: F811
    """Keys this pdesurrogate knows but writes only when they apply (init_weights,
    fine_tuned_from) are kept from a newer writer; only its new key is ignored."""
    cfg = json.loads((exported / "config.json").read_text())
    source = {"path": "/d.nc", "fingerprint": "sha256:" + "0" * 64, "n_trajectories": 4,
              "fractions": [0.5, 0.25, 0.25], "seed": 0, "max_train_trajectories": None}
    known = {"init_weights": "/runs/base", "fine_tuned_from": [source]}
    _rewrite(exported, provenance={**cfg["provenance"], **known, "cluster": "x"},
             format_revision=FORMAT_REVISION + 1)
    sur, warned = _load_warned(exported)
    assert len(warned) == 1 and "['provenance.cluster']" in str(warned[0].message)
    assert {k: sur.config["provenance"][k] for k in known} == known


def test_a_pinn_exports_bad_format_revision_is_refused(pinn_export):  # noqa: F811
    cfg = json.loads((pinn_export / "config.json").read_text())
    (pinn_export / "config.json").write_text(json.dumps({**cfg, "format_revision": "2"}))
    with pytest.raises(ValueError, match=r"format_revision must be an int >= 0, got '2'"):
        load(pinn_export)


def test_an_export_without_format_version_is_refused_as_missing_it(exported):  # noqa: F811
    _without(exported, "format_version")
    with pytest.raises(ValueError, match=r"unknown key\(s\) \[\], missing key\(s\) "
                                         r"\['format_version'\]"):
        load(exported)
