"""``predict --compression``: the rollout's states compressed as ``generate --compression``
writes them, read back bit for bit; a bad compression or level refused before anything is
written."""

import h5py
import numpy as np
import pytest

from pdesurrogate.cli import main
from pdesurrogate.datasets import open_dataset
from pdesurrogate.predict import predict_file
from tests import test_predict_output_metadata as meta

model = meta.model  # the fixture: an exported, untrained 1-D FNO with dt 0.2


def test_a_compressed_rollout_reads_back_as_the_uncompressed_one(model, tmp_path):
    src = meta._write(tmp_path / "in.nc")
    plain, packed = str(tmp_path / "plain.nc"), str(tmp_path / "gzip.nc")
    predict_file(model, src, plain, progress=False)
    assert main(["predict", "--model", model, "--input", src, "--out", packed,
                 "--compression", "gzip", "--compression-level", "9"]) == 0
    with h5py.File(plain) as f:
        assert f["u"].compression is None
    with h5py.File(packed) as f:
        assert f["u"].compression == "gzip" and f["u"].compression_opts == 9
    lzf = str(tmp_path / "lzf.nc")
    predict_file(model, src, lzf, progress=False, compression="lzf")
    with h5py.File(lzf) as f:
        assert f["u"].compression == "lzf"
    with open_dataset(plain) as a, open_dataset(packed) as b, open_dataset(lzf) as c:
        np.testing.assert_array_equal(a.u[:], b.u[:])
        np.testing.assert_array_equal(a.u[:], c.u[:])
        np.testing.assert_array_equal(b.sim_id, meta.SIM_IDS)


@pytest.mark.parametrize("kwargs, words", [
    ({"compression": "zstd"}, "'gzip' or 'lzf', got 'zstd'"),
    ({"compression": "lzf", "compression_level": 3}, "goes with compression='gzip' only"),
    ({"compression": "gzip", "compression_level": 12}, "0 to 9"),
])
def test_a_bad_compression_is_refused_before_anything_is_written(model, tmp_path, kwargs,
                                                                 words):
    src = meta._write(tmp_path / "in.nc")
    with pytest.raises(ValueError, match="--compression") as err:
        predict_file(model, src, str(tmp_path / "sub" / "out.nc"), progress=False, **kwargs)
    assert words in str(err.value)
    assert not (tmp_path / "sub").exists()  # not even --out's folder


def test_the_cli_refuses_an_unknown_compression_by_name(model, tmp_path, capsys):
    src = meta._write(tmp_path / "in.nc")
    with pytest.raises(SystemExit) as end:
        main(["predict", "--model", model, "--input", src, "--out", str(tmp_path / "o.nc"),
              "--compression", "zip"])
    assert end.value.code == 2
    assert "argument --compression: invalid choice: 'zip'" in capsys.readouterr().err
