"""Every docstring example in the harness runs and prints what it shows."""
import doctest
import importlib
import pkgutil

import pytest

import benchmark
import methods

MODULES = sorted(m.name for pkg in (benchmark, methods) for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} examples failed"
