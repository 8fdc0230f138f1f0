"""The one exception for data a user has to fix (a file, a key, a shape)."""

from mmf_domainstudy.utils.errors import BadInput


class DataFormatError(BadInput, ValueError):
    """Bad or missing data on disk; the message names the file and how to fix it."""
