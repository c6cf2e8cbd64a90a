"""How many trajectories ``predict`` rolls out at once by default: a working-memory budget
and a cap, importable without torch (``pdesurrogate predict --help`` quotes them, and torch's
import takes seconds).

:func:`pdesurrogate.predict.default_batch_size` fits a batch's rollout, its truth and the
model's activations into :data:`BATCH_MEMORY` bytes, at most :data:`MAX_BATCH` trajectories.
"""

# working memory the default batch size aims at (the batch's rollout, its truth and the model's
# activations), and its upper end, the former fixed default, which small grids keep
BATCH_MEMORY = 256 * 2**20
MAX_BATCH = 64
