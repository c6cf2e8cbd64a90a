"""Models of the user's own code (24e7f5a): what the mutation audit found unpinned by
test_export_own_model.py and tests/models/test_models.py. check_models refuses each kind of
bad entry, a handed class never takes a built-in name, unknown names without a dot are not
taken for own models, nested own models are found (each once), own_classes holds only the
classes recorded, a *args/**kwargs constructor is refused, and build_model says how to hand
a missing class. Tiny models, no training; CPU, milliseconds."""

import pytest
import torch
from torch import nn

from pdesurrogate.export import export_surrogate
from pdesurrogate.loading import load
from pdesurrogate.models import (
    FNO,
    build_model,
    check_models,
    missing_models,
    model_spec,
    own_classes,
    qualified_name,
)

from .test_export_own_model import NAME, TinyNet, WiderNet, _module


class Holder(nn.Module):
    """An own model taking another model (stored, as the contract asks)."""

    def __init__(self, inner: nn.Module, scale: float = 1.0):
        super().__init__()
        self.inner, self.scale = inner, scale


class Loose(nn.Module):
    """Breaks the contract with ``**kwargs``, though it stores what it names."""

    def __init__(self, width: int = 4, **kwargs):
        super().__init__()
        self.width, self.kwargs = width, kwargs


HOLDER = qualified_name(Holder)


class Outer:
    class Inner(TinyNet):
        """A model class defined inside another class."""


@pytest.mark.parametrize("models, match", [
    ({NAME: dict}, r"\[.*TinyNet'\] must be an nn.Module subclass, got <class 'dict'>"),
    ({"": TinyNet}, "names must be non-empty strings, got ''"),
    ({1: TinyNet}, "names must be non-empty strings, got 1"),
])
def test_each_bad_entry_of_models_is_refused(tmp_path, models, match):
    with pytest.raises(ValueError, match=match):
        check_models(models, "models")
    out = export_surrogate(_module(), tmp_path / "own")
    with pytest.raises(ValueError, match=match):
        load(out, models=models)


def test_a_handed_class_never_takes_a_built_in_name():
    """build_model looks MODELS up first: a class handed under 'fno' (which check_models
    would refuse; build_model is called with its models as given) builds nothing else."""
    spec = model_spec(FNO(1, 1, [2], 4, 1))
    assert type(build_model(spec, models={"fno": TinyNet})) is FNO
    assert missing_models(spec, {"fno": TinyNet}) == []


def test_a_name_without_a_dot_is_unknown_not_an_own_model(tmp_path):
    """'nosuch' is no qualified name: not reported as a class to hand; load says it is unknown
    and lists the built-in names."""
    assert missing_models({"class": "nosuch", "init_args": {}}) == []
    out = export_surrogate(_module(), tmp_path / "own")
    cfg_path = out / "config.json"
    cfg_path.write_text(cfg_path.read_text().replace(NAME, "nosuch"))
    with pytest.raises(ValueError, match=r"unknown model 'nosuch'; choose one of \['cape'"):
        load(out, models={NAME: TinyNet})


def test_nested_own_models_are_found_each_once():
    """A Holder of a TinyNet: both names missing, in order; each handed one drops out; a
    Holder holding a Holder names Holder once; own_classes gives both classes and nothing
    else (not torch's Conv1d)."""
    spec = model_spec(Holder(TinyNet(width=3)))
    assert spec["init_args"]["inner"]["class"] == NAME
    assert missing_models(spec) == [HOLDER, NAME]
    assert missing_models(spec, {HOLDER: Holder}) == [NAME]
    assert missing_models(spec, {NAME: TinyNet}) == [HOLDER]
    assert missing_models(model_spec(Holder(Holder(TinyNet())))) == [HOLDER, NAME]
    assert own_classes(Holder(TinyNet())) == {HOLDER: Holder, NAME: TinyNet}
    assert own_classes(TinyNet()) == {NAME: TinyNet}
    assert own_classes(FNO(1, 1, [2], 4, 1)) == {}
    built = build_model(spec, models=own_classes(Holder(TinyNet())))
    assert type(built.inner) is TinyNet and built.inner.width == 3


def test_a_nested_class_is_named_by_its_qualified_path():
    """'module.Outer.Inner', so two classes named Inner in one module are told apart."""
    assert qualified_name(Outer.Inner) == f"{Outer.__module__}.Outer.Inner"
    assert model_spec(Outer.Inner())["class"] == f"{Outer.__module__}.Outer.Inner"


def test_a_modules_own_class_beats_one_handed_under_its_name(tmp_path):
    """Exporting a module: its live model's class is the one checked and recorded, a class
    handed under the same name (WiderNet, other weights) does not replace it."""
    m = _module()
    out = export_surrogate(m, tmp_path / "own", models={NAME: WiderNet})
    u, p = torch.randn(2, 1, 16), torch.rand(2, 1)
    torch.testing.assert_close(load(out, models={NAME: TinyNet}).rollout(u, p, 2),
                               m.rollout(u, p, 2), atol=0, rtol=0)


def test_a_var_keyword_constructor_is_refused():
    with pytest.raises(ValueError, match=r"Loose: \*args/\*\*kwargs constructors cannot be "
                                         "recorded"):
        model_spec(Loose())


def test_build_model_says_how_to_hand_a_missing_class():
    with pytest.raises(ValueError, match=r"where\.class: 'mynet\.MyNet' is not one of "
                                         r"pdesurrogate's models and no class was handed for "
                                         r"it; pass it: models=\{'mynet\.MyNet': MyNet\}"):
        build_model({"class": "mynet.MyNet", "init_args": {}}, "where")


@pytest.mark.parametrize("scale", [float("nan"), float("inf")])
def test_a_non_finite_float_argument_is_refused(scale):
    """JSON has no NaN or inf: a spec holding one would not read back."""
    with pytest.raises(ValueError, match=rf"Holder: constructor argument 'scale' is stored as "
                                         rf"{scale!r}, which is not JSON-friendly"):
        model_spec(Holder(TinyNet(), scale=scale))
