"""``init_weights`` from an export a newer pdesurrogate wrote, with a provenance key this one
does not know: read with one NewerExportWarning naming the key, as ``load`` reads it; the same
key in an export of this version is refused as a misspelling; an export of a newer format is
refused saying to upgrade."""

import json
import warnings

import pytest
import torch

from pdesurrogate import export_surrogate
from pdesurrogate.export_checks import FORMAT_REVISION, NewerExportWarning
from pdesurrogate.export_files import FORMAT_VERSION
from pdesurrogate.models import FNO
from pdesurrogate.training import NextStepModule
from pdesurrogate.training.init_weights import read_trained_weights


@pytest.fixture
def export_dir(tmp_path):
    torch.manual_seed(0)
    module = NextStepModule(FNO(1, 1, [4], 8, 2, n_params=1))
    return export_surrogate(module, tmp_path / "export", param_names=["beta"],
                            channel_names=["u"])


def _with_cluster_key(folder, revision: int) -> None:
    path = folder / "config.json"
    cfg = json.loads(path.read_text())
    cfg.setdefault("provenance", {})["cluster"] = "jean-zay"
    cfg["format_revision"] = revision
    path.write_text(json.dumps(cfg))


def test_a_newer_writers_provenance_key_is_ignored_with_one_warning(export_dir):
    _with_cluster_key(export_dir, FORMAT_REVISION + 1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        weights = read_trained_weights(export_dir)
    newer = [w for w in caught if issubclass(w.category, NewerExportWarning)]
    assert len(newer) == 1 and "provenance.cluster" in str(newer[0].message)
    assert weights.tensors  # the weights were read


def test_the_same_key_from_this_version_is_refused(export_dir):
    _with_cluster_key(export_dir, FORMAT_REVISION)
    with pytest.raises(ValueError, match="cluster"):
        read_trained_weights(export_dir)


def test_an_export_of_a_newer_format_is_refused_saying_to_upgrade(export_dir):
    """Not its keys (a newer format may rename them) but its format and what to do, as load."""
    path = export_dir / "config.json"
    cfg = json.loads(path.read_text())
    cfg.update(format_version=FORMAT_VERSION + 1, pdesurrogate_version="9.0.0")
    cfg["provenance"]["cluster"] = "jean-zay"
    path.write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match=r"format_version 2 is not supported.*written by a newer "
                                         r"pdesurrogate \(9\.0\.0\): upgrade this one"):
        read_trained_weights(export_dir)
