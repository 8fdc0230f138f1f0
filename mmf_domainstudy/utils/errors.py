"""The project's one error type for configuration a user has to fix."""


class ConfigError(ValueError):
    """A run's config (a key, a name, a file it includes) is wrong or missing; the message says what to write."""
