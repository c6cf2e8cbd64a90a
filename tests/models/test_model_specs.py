"""complete_spec / spec_differences: two specs build the same model exactly when their
completions agree; a spec written before an argument existed counts with the value it was
built with (SPEC_DEFAULTS_BEFORE), e.g. a CAPE module saved before padding_mode was zeros."""

import pytest

from pdesurrogate.models import (
    FNO,
    CAPEModule,
    CAPEWrapper,
    complete_spec,
    model_spec,
    spec_differences,
)


def _cape(**kw) -> dict:
    return model_spec(CAPEWrapper(FNO(2, 1, [4], hidden_channels=8, n_params=1),
                                  CAPEModule(1, 1, 1, modes=4, **kw)))


def test_an_old_cape_spec_completes_with_zero_padding():
    new = _cape()
    old = _cape()
    del old["init_args"]["cape"]["init_args"]["padding_mode"]  # as saved before c81281b
    assert new["init_args"]["cape"]["init_args"]["padding_mode"] == "circular"
    assert spec_differences(complete_spec(old), complete_spec(new)) == [
        ("init_args.cape.init_args.padding_mode", "zeros", "circular")]
    assert spec_differences(complete_spec(old), complete_spec(_cape(padding_mode="zeros"))) == []
    assert complete_spec(new) == new  # a spec of today's model is complete already


def test_left_out_arguments_take_the_constructors_defaults():
    full = model_spec(FNO(1, 1, [4]))
    short = {"class": "fno", "init_args": {"in_channels": 1, "out_channels": 1, "n_modes": [4]}}
    assert complete_spec(short) == full
    assert spec_differences(complete_spec(short), model_spec(FNO(1, 1, [4], n_layers=2))) == [
        ("init_args.n_layers", 4, 2)]


@pytest.mark.parametrize("spec, match", [
    ({"class": "nope", "init_args": {}}, r"saved\.class: unknown model 'nope'"),
    ({"class": "fno", "init_args": {"in_channels": 1, "out_channels": 1, "n_modes": [4],
                                    "bogus": 1}}, r"unknown argument\(s\) \['bogus'\]"),
    ({"class": "fno", "init_args": {"in_channels": 1}}, r"missing argument 'out_channels'"),
    ({"class": "fno"}, r"saved: expected keys \['class', 'init_args'\]"),
])
def test_specs_that_build_nothing_are_named(spec, match):
    with pytest.raises(ValueError, match=match):
        complete_spec(spec, "saved")
