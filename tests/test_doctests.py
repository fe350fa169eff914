"""Every docstring example in the harness runs and prints what it shows."""
import doctest
import importlib
import pkgutil
import tempfile

import pytest

import benchmark
import methods

MODULES = sorted(m.name for pkg in (benchmark, methods) for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name, tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))     # the examples' mkdtemp() folders: pytest's, not /tmp's
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} examples failed"
