"""``python -m mmf_domainstudy.run`` takes exactly ``mmf_run``'s arguments.

Useful where the import hook is not installed (e.g. the package is only on
PYTHONPATH): importing the package activates it before MMF's CLI runs.
"""
import mmf_domainstudy  # noqa: F401


def main():
    from mmf_cli.run import run

    run()


if __name__ == "__main__":
    main()
