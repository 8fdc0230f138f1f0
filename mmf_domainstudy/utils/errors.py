"""The project's clear-message errors: input a user has to fix, named with the fix.

Every such error derives from ``BadInput``, so the one handler
(``utils/cli_errors.py``) prints it as one ``error:`` line without importing the
areas that raise them. A bug is never a ``BadInput``.
"""


class BadInput(Exception):
    """Input at fault (a file, a key, a name); the message says which and what to do."""


class ConfigError(BadInput, ValueError):
    """A run's config (a key, a name, a file it includes) is wrong or missing; the message says what to write."""
