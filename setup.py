"""Package list for the namespaced layout.

The repo keeps `graph_engine/`, `nodes/` and `studio/` at its root, but they
install as `haysay.graph_engine`, `haysay.nodes` and `haysay.studio`, so no
generic top-level name lands in site-packages.  pyproject.toml holds the
`package-dir` mapping; this file only enumerates the subpackages under it.
"""
from setuptools import find_packages, setup

MAPPED = {"graph_engine": "haysay.graph_engine", "nodes": "haysay.nodes", "studio": "haysay.studio"}

packages = ["haysay"] + [f"haysay.{sub}" for sub in find_packages("haysay")]
for folder, name in MAPPED.items():
    packages.append(name)
    packages += [f"{name}.{sub}" for sub in find_packages(folder)]

setup(packages=packages)
