"""The package metadata builds without deprecation warnings."""

import tomllib
from pathlib import Path

from packaging.licenses import canonicalize_license_expression
from packaging.requirements import Requirement

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def test_license_is_an_spdx_expression_not_the_deprecated_table():
    meta = tomllib.loads(PYPROJECT.read_text())
    license_ = meta["project"]["license"]
    assert isinstance(license_, str), "setuptools warns about `license = { text = ... }` on every install"
    assert canonicalize_license_expression(license_) == license_
    # the string form needs setuptools 77 or newer (PEP 639)
    (setuptools,) = [Requirement(r) for r in meta["build-system"]["requires"] if r.startswith("setuptools")]
    assert not setuptools.specifier.contains("76.9") and setuptools.specifier.contains("77.0")
