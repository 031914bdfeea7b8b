"""Node types from light declarations: `haysay nodes` answers from the built-ins' manifest without importing
a node family, `haysay validate` imports only the families its pipeline uses and neither numpy nor
networkx, the manifest is thrown away when the sources it was built from change, and validation's
plain-dict graph walks nodes in networkx's own orders (so errors come out as they always did).

Module checks read `sys.modules` at the end of a fresh interpreter; they are not timings."""
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import networkx as nx

from haysay.graph_engine.dag import Digraph

ROOT = Path(__file__).resolve().parents[2]
NOT_FOR_DESCRIBING = ("numpy", "networkx", "soxr", "soundfile", "duckdb", "zarr", "dask", "distributed", "torch",
                      "scipy")
PROBE = """
import json, sys
from haysay.cli import main
rc = main(sys.argv[1:])
print("@@" + json.dumps({"rc": rc, "modules": sorted(sys.modules)}))
"""


def haysay(*args: str, home: Path) -> tuple[int, set[str], str]:
    """`haysay ARGS` in a fresh interpreter: (exit code, every module it imported, its output)."""
    env = {**os.environ, "HAYSAY_HOME": str(home)}
    proc = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=300)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("@@")), None)
    assert line is not None, proc.stdout + proc.stderr
    got = json.loads(line[2:])
    return got["rc"], set(got["modules"]), proc.stdout.split("@@")[0] + proc.stderr


def families(modules: set[str]) -> set[str]:
    return {m for m in modules if m.startswith("haysay.nodes.") and m.count(".") >= 3}


def test_listing_imports_no_family_and_validating_only_the_pipelines(tmp_path):
    rc, first, listed = haysay("nodes", home=tmp_path)  # a fresh home: builds the manifest, importing all
    assert rc == 0 and (tmp_path / "node_manifest.json").is_file()
    assert "haysay.nodes.vc.rvc.node" in first

    rc, modules, again = haysay("nodes", home=tmp_path)
    assert rc == 0 and again == listed and "vc.rvc" in again and "gen.tone" in again
    assert families(modules) == set(), sorted(families(modules))
    assert not [m for m in NOT_FOR_DESCRIBING if m in modules]

    rc, modules, out = haysay("validate", "examples/hello.json", home=tmp_path)
    assert rc == 0 and "is valid (4 nodes, 2 edges)" in out
    assert families(modules) == {"haysay.nodes.source.tone", "haysay.nodes.audio.gain",
                                 "haysay.nodes.audio.resample"}
    assert [m for m in NOT_FOR_DESCRIBING if m in modules] == []


def test_validation_errors_of_a_lazily_loaded_type_are_the_full_registrys(tmp_path):
    doc = {"format": "haysay.pipeline/1", "name": "bad",
           "nodes": [{"id": "t", "type": "gen.tone", "params": {"frequency": -5, "bogus": 1}},
                     {"id": "x", "type": "no.such"}],
           "edges": [{"from": "t.audio", "to": "x.audio"}], "outputs": {"o": "t.audio"}}
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    haysay("nodes", home=tmp_path)
    rc, modules, out = haysay("validate", "--json", str(path), home=tmp_path)
    assert rc == 3
    errors = json.loads(out)
    assert {(e["node"], e["field"], e["code"]) for e in errors} >= {
        ("x", "type", "unknown_node_type"), ("t", "frequency", "invalid_param"), ("t", "bogus", "invalid_param")}
    assert families(modules) == {"haysay.nodes.source.tone"}
    # the same list from a registry holding every built-in, loaded the old way
    code = ("import json, sys\nimport haysay.nodes\nfrom haysay.graph_engine import contract, load_pipeline, plan\n"
            "haysay.nodes.load_builtin()\nreg = contract.Registry()\n"
            "[reg.add(s) for s in contract._DECLARED.values()]\n"
            f"p = plan(load_pipeline({str(path)!r}), reg)\nprint(json.dumps([e.to_dict() for e in p.errors]))")
    eager = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300,
                           env={**os.environ, "HAYSAY_HOME": str(tmp_path)})
    assert eager.returncode == 0, eager.stderr
    assert json.loads(eager.stdout.strip().splitlines()[-1]) == errors


def test_a_manifest_from_other_sources_is_rebuilt(tmp_path):
    rc, _, real = haysay("nodes", "gen.tone", home=tmp_path)
    path = tmp_path / "node_manifest.json"
    doc = json.loads(path.read_text())
    doc["types"]["gen.tone"]["card"]["description"] = "read from the manifest"
    path.write_text(json.dumps(doc))
    rc, _, out = haysay("nodes", "gen.tone", home=tmp_path)
    assert rc == 0 and "read from the manifest" in out  # a current file is what answers

    doc["key"] = doc["key"].replace("format 1", "format 0")  # as if built from other sources
    path.write_text(json.dumps(doc))
    rc, modules, out = haysay("nodes", "gen.tone", home=tmp_path)
    assert rc == 0 and out == real and "haysay.nodes.source.tone" in modules
    assert json.loads(path.read_text())["types"]["gen.tone"]["card"]["description"] != "read from the manifest"


def random_dag(rng: random.Random, n: int, p: float) -> Digraph:
    names = [f"n{k:06d}" for k in rng.sample(range(10 ** 6), n)]  # insertion order != name order
    g = Digraph()
    for name in names:
        g.add_node(name, spec=name)
    for i in range(n):
        for j in range(i + 1, n):
            if rng.random() < p:
                g.add_edge(names[i], names[j], ports=[("audio", "audio")])
    return g


def test_plain_graph_walks_in_networkxs_orders():
    rng = random.Random(7)
    for trial in range(200):
        g = random_dag(rng, rng.randrange(1, 30), rng.choice([0.05, 0.2, 0.5]))
        ref = g.to_networkx()
        assert list(ref.nodes) == list(g.nodes) and list(ref.edges) == [(u, v) for u, v, _ in g.edge_list()]
        assert g.topological_sort() == list(nx.topological_sort(ref))
        assert g.lexicographical_order() == list(nx.lexicographical_topological_sort(ref))
        for n in g.nodes:
            assert list(g.predecessors(n)) == list(ref.predecessors(n))
            assert list(g.successors(n)) == list(ref.successors(n))
        assert not g.has_cycle()
        edges = [(u, v) for u, v, _ in g.edge_list()]
        if edges:
            u, v = rng.choice(edges)
            g.add_edge(v, u)  # closes a loop
            assert g.has_cycle() and not nx.is_directed_acyclic_graph(g.to_networkx())


def test_a_family_left_out_keys_the_manifest_on_site_packages(tmp_path):
    """soxr made unimportable: the loudness family is left out, the file says so and is keyed on the
    site-packages folders too (installing the library there changes their time and rebuilds it)."""
    code = ("import importlib.abc, sys\n"
            "class Block(importlib.abc.MetaPathFinder):\n"
            "    def find_spec(self, name, path, target=None):\n"
            "        if name.split('.')[0] == 'soxr':\n"
            "            raise ModuleNotFoundError('blocked ' + name, name=name)\n"
            "sys.meta_path.insert(0, Block())\n"
            "from haysay.graph_engine.manifest import builtin_manifest\nbuiltin_manifest()\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300,
                          env={**os.environ, "HAYSAY_HOME": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((tmp_path / "node_manifest.json").read_text())
    assert doc["left_out"]["haysay.nodes.audio.levels"] == "needs the Python package 'soxr'"
    assert "audio.gain" in doc["types"] and not [t for t, e in doc["types"].items()
                                                  if e["module"] == "haysay.nodes.audio.levels"]
    site = [ln for ln in doc["key"].splitlines() if os.path.basename(ln.split(" ")[0]) == "site-packages"]
    assert site and all(len(ln.split(" ")) == 3 for ln in site)  # folder, size, change time
