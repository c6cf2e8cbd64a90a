"""A model of your own code, as a user would keep it in a file of theirs (``mynet.py``): the
model ``examples/own_model.py`` trains with ``pdesurrogate fit``. Nothing here is registered
with pdesurrogate; the fit config names it as ``tiny_cnn.TinyCNN`` (this folder on
``PYTHONPATH``), and export and load get the class from you.

The contract (``pdesurrogate/models/__init__.py``, "Adding a model"): each constructor
argument stored as an attribute of the same name, so the checkpoint and the export can record
how to build it again; ``dim``, ``in_channels``, ``out_channels`` and ``n_params``, which
``pdesurrogate.load`` checks the data's grid, channels and parameters against; and
``forward(u, params)``.
"""

import torch
from torch import nn


class TinyCNN(nn.Module):
    """A 1-D convolutional network on a periodic grid: ``u`` ``(B, in_channels, x)`` and
    ``params`` ``(B, n_params)`` -> ``(B, out_channels, x)``. The parameters enter as extra
    constant input channels."""

    def __init__(self, in_channels: int = 1, out_channels: int = 1, n_params: int = 1,
                 width: int = 32, kernel_size: int = 5, n_layers: int = 3):
        super().__init__()
        self.in_channels, self.out_channels, self.n_params = in_channels, out_channels, n_params
        self.width, self.kernel_size, self.n_layers = width, kernel_size, n_layers
        self.dim = 1
        # circular padding: Burgers here is periodic, so the edges are neighbours
        conv = dict(padding=kernel_size // 2, padding_mode="circular")
        layers = [nn.Conv1d(in_channels + n_params, width, kernel_size, **conv), nn.GELU()]
        for _ in range(n_layers - 2):
            layers += [nn.Conv1d(width, width, kernel_size, **conv), nn.GELU()]
        layers.append(nn.Conv1d(width, out_channels, kernel_size, **conv))
        self.net = nn.Sequential(*layers)

    def forward(self, u: torch.Tensor, params: torch.Tensor | None = None) -> torch.Tensor:
        if self.n_params:
            u = torch.cat([u, params[:, :, None].expand(-1, -1, u.shape[-1])], dim=1)
        return self.net(u)
