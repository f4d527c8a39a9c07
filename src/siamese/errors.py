"""User-facing errors.

Every error a user can cause (bad config, bad data, a broken model folder) is a ``SiameseError``:
the CLI prints its message on one line and exits with code 2, never a traceback. Messages name the
file, line or field, what was expected, what was received, and the fix.
"""

from __future__ import annotations


class SiameseError(Exception):
    """Base class of every error caused by the user's input."""


class ConfigError(SiameseError):
    """A configuration file or option is missing, unknown or of the wrong type."""


class DataError(SiameseError):
    """A data file is missing, malformed or inconsistent."""


class ModelFileError(SiameseError):
    """A saved model folder is missing a file or holds a corrupt one."""


class TrainingFailed(SiameseError):
    """A run that trained but did not work (e.g. an unrecovered collapse): the run folder holds
    what it made, and the message says why and what to try. The CLI exits with code 1."""

    exit_code = 1


class TooLargeError(DataError):
    """A file asks for more than a reader allows: pixels of an image, bytes of an array."""
