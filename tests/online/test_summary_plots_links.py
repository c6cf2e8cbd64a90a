"""The end-of-run plots (``online.png``, ``rollout.png``) go through a temporary renamed over
their names, as every file of the run folder: a symlink planted at either name (a run folder
in a group-writable place) is replaced, and the file it points at is left alone."""

from types import SimpleNamespace

import matplotlib
import torch

matplotlib.use("Agg")

from pdesurrogate.online import summary  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n"


class _Module:
    data_info = {"channel_names": ["u"]}
    device = torch.device("cpu")

    def train(self, mode: bool) -> None:
        pass

    def rollout(self, u0, params, steps):
        return torch.stack([u0] * (steps + 1), dim=1)


def test_planted_links_at_the_plot_names_are_replaced_not_followed(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    victims = {name: tmp_path / f"victim-{name}" for name in ("online.png", "rollout.png")}
    for name, victim in victims.items():
        victim.write_bytes(b"precious")
        (out / name).symlink_to(victim)
    hist = [{"step": k, "stream/samples_per_s": 10.0, "stream/buffer_fill": 0.5,
             "trainer/idle_fraction": 0.1, "stream/seen_mean": 1.0, "stream/seen_max": 2.0}
            for k in range(3)]
    val_u = torch.rand(2, 3, 1, 8)  # (trajectories, steps + 1, C, x)
    paths = summary._plots(out, _Module(), SimpleNamespace(history=hist), val_u,
                           torch.rand(2, 1), SimpleNamespace(dt=0.1))
    assert paths == [str(out / "online.png"), str(out / "rollout.png")]
    for name, victim in victims.items():
        assert victim.read_bytes() == b"precious"
        assert not (out / name).is_symlink()
        assert (out / name).read_bytes().startswith(PNG)
    assert sorted(p.name for p in out.iterdir()) == ["online.png", "rollout.png"]
