"""Registration cannot silently miss a module: every decorated component is imported by the one
place that registers it (``registration.py`` for MMF's registry, ``compat/__init__.py`` for shims)."""
import pathlib
import re
import subprocess
import sys

from mmf_domainstudy import registration
from tests.conftest import REPO

PACKAGE = pathlib.Path(REPO) / "mmf_domainstudy"


def modules_containing(pattern):
    found = set()
    for path in PACKAGE.rglob("*.py"):
        if re.search(pattern, path.read_text(), re.MULTILINE):
            found.add(".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts))
    return found


def test_every_module_registering_an_mmf_component_is_in_registration():
    registering = modules_containing(r"^@registry\.register_\w+\(")  # class or function decorators
    assert registering, "no module registers anything: the pattern no longer matches the code"
    assert registering == set(registration.REGISTERING_MODULES)


def test_every_module_defining_a_shim_is_imported_by_the_compat_package():
    defining = modules_containing(r"^@shim\(")
    code = "import sys, mmf_domainstudy.compat\nprint('\\n'.join(sorted(sys.modules)))"
    imported = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                              check=True).stdout.split()
    assert defining and defining <= set(imported)
