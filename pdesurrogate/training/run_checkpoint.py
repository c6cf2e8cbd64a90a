"""``RunCheckpoint``: fit's own ``last.ckpt`` writer when a config brings a ``ModelCheckpoint``
of its own that does not write ``last.ckpt`` after every epoch (see
``pdesurrogate.cli.default_checkpoint``).

A ``ModelCheckpoint`` under a state key of its own: Lightning refuses two ``ModelCheckpoint``
of equal ``monitor`` and intervals (e.g. the user's without a monitor and this one). Named by
``CLASS_PATH`` in the config, so the ``config.yaml`` a fit saves lists it and a resumed fit or
``test`` given that file builds it again.
"""

from __future__ import annotations

from lightning.pytorch.callbacks import ModelCheckpoint


class RunCheckpoint(ModelCheckpoint):
    """``ModelCheckpoint`` whose state is stored apart from any other writer's."""

    @property
    def state_key(self) -> str:
        return f"pdesurrogate.RunCheckpoint{super().state_key}"


CLASS_PATH = f"{RunCheckpoint.__module__}.{RunCheckpoint.__qualname__}"
# last.ckpt after every epoch; its top-k copy (the newest epoch) named apart from a user
# writer's "epoch=N-step=M.ckpt", which would make Lightning call it "...-v1.ckpt"
INIT_ARGS = {"save_last": True, "filename": "{epoch}-{step}-last"}
