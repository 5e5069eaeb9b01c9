"""The exceptions titlesim raises. Every one is a ``titlesim.Error``; the message is the one
the ``titlesim`` command line prints for the same failure, naming the file, line or key."""


class Error(Exception):
    """Base class of titlesim's exceptions (also raised, alone, for an internal error)."""


class ConfigError(Error, ValueError):
    """A configuration file or argument is invalid: the message names the key."""


class ModelError(Error):
    """A model folder cannot be found, read or run (missing files, unsupported architecture)."""


class InputError(Error, ValueError):
    """A line of an input file (shadow log, review file, GT store) is invalid, or the logs hold
    nothing usable."""


class StoreError(Error):
    """A GT store was written by another model or dimension, or does not exist, or titles were
    to be added to a store made on another backend."""


class BackendError(Error):
    """The backend failed to load or run the model (ONNX Runtime library missing, ...)."""


class FileError(Error, OSError):
    """Reading or writing a file failed, or another writer holds a shadow log, EMF file or GT
    store (one writer per file); the path is in the message."""


# Shown as `titlesim.ConfigError`, where users catch them, not `titlesim._errors.ConfigError`.
for _cls in (Error, ConfigError, ModelError, InputError, StoreError, BackendError, FileError):
    _cls.__module__ = "titlesim"
del _cls
