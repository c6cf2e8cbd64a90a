"""Every safetensors dtype this torch has reads back as that dtype from a file's header."""

import json
import struct

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from pdesurrogate.export_files import check_header, read_header

DTYPES = [getattr(torch, n) for n in ("uint16", "uint32", "uint64", "float8_e4m3fn",
                                        "float8_e5m2") if hasattr(torch, n)]


class WithBuffer(nn.Module):
    def __init__(self, dtype: torch.dtype):
        super().__init__()
        self.lin = nn.Linear(2, 2)
        self.register_buffer("table", torch.arange(4, dtype=torch.float32).to(dtype))


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_a_buffer_of_any_dtype_torch_has_matches_its_model(tmp_path, dtype):
    model = WithBuffer(dtype)
    path = tmp_path / "model.safetensors"
    save_file(model.state_dict(), str(path))
    assert read_header(path)["table"] == ((4,), dtype)
    check_header(model, path)  # no "wrong dtype"
    with pytest.raises(ValueError, match=rf"table: dtype {dtype} \(expected torch.float32\)"):
        check_header(WithBuffer(torch.float32), path)


def test_a_dtype_code_torch_has_no_dtype_for_is_named(tmp_path):
    """A header with a code torch has no dtype for (6-bit floats; hand-written, as torch cannot
    save it) is one error naming the file, tensor and code."""
    header = json.dumps({"t": {"dtype": "F6_E2M3", "shape": [4], "data_offsets": [0, 3]}})
    header = header.encode() + b" " * (-len(header) % 8)
    path = tmp_path / "model.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header + b"\0\0\0")
    with pytest.raises(ValueError, match=r"model\.safetensors.*'t' has safetensors dtype "
                                         r"'F6_E2M3', which torch .* has no dtype for"):
        read_header(path)
