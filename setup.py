"""Which packages the distribution holds: pyproject.toml cannot say it, because the ready-made gate suites live in
the top-level `suites/` folder (run from a checkout as `pytest suites ...`) and ship inside the package as
`codeguard.suites` (run from an installed codeguard as `pytest --pyargs codeguard.suites ...`, or through the thin
files `codeguard init` writes). setuptools' `packages.find` table cannot add a package mapped from another folder,
so discovery is here; everything else is in pyproject.toml.
"""
from setuptools import find_namespace_packages, setup

setup(packages=[*find_namespace_packages(include=["codeguard*"]), "codeguard.suites"],
      package_dir={"codeguard.suites": "suites"})
