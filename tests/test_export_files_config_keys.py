"""export_files.check_config_keys: the one key-set and format_version check of an export's
config.json (the field and the PINN exports)."""
import pytest

from pdesurrogate.export_files import FORMAT_VERSION, check_config_keys

REQUIRED = ("format_version", "kind")
OPTIONAL = ("note",)


def test_an_other_format_version_is_refused_naming_it_and_the_file():
    with pytest.raises(ValueError, match=r"'/x/config.json': format_version 99 is not supported "
                                         rf"\(this pdesurrogate reads {FORMAT_VERSION}\)"):
        check_config_keys({"format_version": 99, "kind": "field"}, "/x/config.json",
                          REQUIRED, OPTIONAL)


def test_the_optional_keys_are_allowed_and_kind_opens_the_list():
    check_config_keys({"format_version": FORMAT_VERSION, "kind": "f", "note": 1}, "c",
                      REQUIRED, OPTIONAL)
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['x'\], missing key\(s\) "
                                         r"\['kind'\]; a PINN export has exactly"):
        check_config_keys({"format_version": FORMAT_VERSION, "x": 1}, "c", REQUIRED, OPTIONAL,
                          kind="a PINN export has")
    with pytest.raises(ValueError, match="expected a JSON object, got list"):
        check_config_keys([], "c", REQUIRED, OPTIONAL)
