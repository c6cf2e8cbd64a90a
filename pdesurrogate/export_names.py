"""The names of the two files of an exported model folder, importable without torch.

:mod:`pdesurrogate.export_files` reads and writes them and needs torch; ``pdesurrogate info``
names them also when it describes a dataset file (and in its errors), where nothing else
needs torch, whose import costs seconds.
"""

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
