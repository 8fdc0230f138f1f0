"""The stock ``mmf_run`` reports bad input as the project's commands do: one ``error:`` line, exit 2."""
from .registry import AFTER_MMF, shim


@shim(
    "one_line_bad_input",
    AFTER_MMF,
    "rc10's mmf_run meets every error with a traceback; an uncaught error of the plugin's clear-message "
    "kinds (a bad key, file or checkpoint) prints as one 'error:' line with exit status 2 "
    "(MMF_DOMAINSTUDY_TRACEBACK=1 shows the traceback)",
    detect=lambda: True,
)
def report_uncaught_bad_input_in_one_line():
    import sys

    from mmf_domainstudy.utils.cli_errors import exit_if_bad_input

    previous_hook = sys.excepthook

    def one_line_for_bad_input(kind, error, traceback):
        exit_if_bad_input(error)
        previous_hook(kind, error, traceback)

    sys.excepthook = one_line_for_bad_input
