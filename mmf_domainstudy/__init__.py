"""mmf-domainstudy: which data should a vision-and-language model pretrain on?

Importing the package, or any of its subpackages that do not build MMF objects,
changes nothing: no MMF import, no patch. ``activate()`` makes MMF 1.0.0rc10 work
on today's stack (the compat shims) and registers the plugin's components with
MMF's registry. The import hook installed with the package calls it on the first
``import mmf``, and the MMF-facing entry points (``python -m mmf_domainstudy.run``,
the in-process trainer builder, the tools that build models) call it themselves.
"""
__version__ = "0.1.0"


def activate():
    """Apply the compat shims around ``import mmf`` and register the plugin's components; idempotent."""
    from mmf_domainstudy import activation

    activation.activate()
