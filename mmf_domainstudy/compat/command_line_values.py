"""Command-line values as a yaml user writes them: ``key=null`` and ``key=true`` mean what they say.

rc10 decodes ``key=value`` with ``literal_eval`` after mapping the exact string
``None``: so ``null`` and ``none`` stay strings, and so do ``true``/``false`` (only
``True``/``False`` are Python literals). Every nullable and boolean key then saw a
string. The decoding below is rc10's plus those spellings, for every key at once.
"""
from mmf_domainstudy.utils.config_values import NULL_SPELLINGS, decode_boolean

from .registry import AFTER_MMF, shim


@shim(
    "command_line_null_and_booleans",
    AFTER_MMF,
    "rc10 decodes key=null / key=none / key=true from the command line as strings (literal_eval knows only "
    "None/True/False); they now decode to None and booleans, as in yaml",
    detect=lambda: True,
)
def decode_yaml_spellings_on_the_command_line():
    from mmf.utils.configuration import Configuration

    decode_value = Configuration._decode_value

    def _decode_value(self, value):
        if isinstance(value, str) and value.strip().lower() in NULL_SPELLINGS:
            return None
        boolean = decode_boolean(value)
        return decode_value(self, value) if boolean is None else boolean

    Configuration._decode_value = _decode_value
