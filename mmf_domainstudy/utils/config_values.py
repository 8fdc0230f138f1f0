"""Config values as rc10's command line delivers them."""


def parse_boolean(value, key):
    """A yes/no value. rc10 parses command-line values with literal_eval, so ``key=true``
    arrives as the string "true" (only ``True`` is a bool): accept both spellings."""
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if not isinstance(value, bool):
        raise ValueError(f"{key}={value!r}: set true or false")
    return value
