"""Config values as rc10's command line delivers them.

The command-line decoding shim (compat/command_line_values.py) turns ``null``/``none``
and ``true``/``false`` into None and booleans for every key; these helpers are the one
definition of those spellings, also for values that reach a check by another path
(a study spec's overrides, a config written by hand with quoted strings).
"""
NULL_SPELLINGS = ("null", "none")
BOOLEAN_SPELLINGS = {"true": True, "false": False}


def decode_boolean(value):
    """True/False for a boolean or one of its spellings (any case), else None."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return BOOLEAN_SPELLINGS.get(value.strip().lower())
    return None


def parse_boolean(value, key):
    """A yes/no value; anything else is an error naming ``key``."""
    boolean = decode_boolean(value)
    if boolean is None:
        raise ValueError(f"{key}={value!r}: set true or false")
    return boolean
