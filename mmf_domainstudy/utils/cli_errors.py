"""Bad input as one ``error:`` line (exit status 2); a bug still shows its traceback.

Bad input is a ``BadInput`` (the project's clear-message errors, utils/errors.py), or
a ValueError raised by a ``raise`` statement of the project's own checks.
``MMF_DOMAINSTUDY_TRACEBACK=1`` shows the traceback of every error. The project's
commands wrap their work in
``bad_input_as_one_line()``; the stock ``mmf_run`` gets the same through
``sys.excepthook`` (compat/one_line_errors.py).
"""
import contextlib
import os
import sys

from mmf_domainstudy.utils.errors import BadInput

PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _raised_by_our_check(error):
    """Whether ``error`` was raised by a ``raise`` statement in this package (not deeper, in a library)."""
    traceback = error.__traceback__
    while traceback is not None and traceback.tb_next is not None:
        traceback = traceback.tb_next
    return traceback is not None and os.path.abspath(traceback.tb_frame.f_code.co_filename).startswith(
        PACKAGE_DIR + os.sep)


def is_bad_input(error):
    return isinstance(error, BadInput) or (isinstance(error, ValueError) and _raised_by_our_check(error))


def one_line(error):
    text = str(error)
    if "\nOriginal Traceback" in text:  # re-raised from a DataLoader worker: the original message ends it
        text = text.rstrip().splitlines()[-1].split(": ", 1)[-1]
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


def exit_if_bad_input(error):
    """Print ``error: ...`` and exit with status 2 if ``error`` is bad input (and tracebacks are not asked for)."""
    if os.environ.get("MMF_DOMAINSTUDY_TRACEBACK") == "1" or not is_bad_input(error):
        return
    print(f"error: {one_line(error)}", file=sys.stderr, flush=True)
    sys.exit(2)


@contextlib.contextmanager
def bad_input_as_one_line():
    """Print bad input as ``error: ...`` on stderr and exit with status 2; let anything else through."""
    try:
        yield
    except Exception as error:
        exit_if_bad_input(error)
        raise
