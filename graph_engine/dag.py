"""The directed graph validation builds: plain dicts, so `haysay validate` and a cached run need no
networkx (a fifth of a second to import). `Plan.graph` turns it into the networkx DiGraph the engine,
the cluster placement and the studio work on, with the same nodes, attributes and edges in the same
order. The walks here visit nodes in networkx's own orders (`topological_sort`,
`lexicographical_topological_sort`), so errors come out in the order they always did."""
from __future__ import annotations

import heapq
from typing import Any, Iterator


class Digraph:
    def __init__(self) -> None:
        self.nodes: dict[str, dict[str, Any]] = {}  # node -> its attributes, in insertion order
        self._succ: dict[str, dict[str, dict[str, Any]]] = {}  # node -> {successor: edge attributes}
        self._pred: dict[str, dict[str, dict[str, Any]]] = {}

    def add_node(self, n: str, **attrs: Any) -> None:
        if n not in self.nodes:
            self.nodes[n], self._succ[n], self._pred[n] = {}, {}, {}
        self.nodes[n].update(attrs)

    def add_edge(self, u: str, v: str, **attrs: Any) -> None:
        self.add_node(u)
        self.add_node(v)
        data = self._succ[u].setdefault(v, {})
        data.update(attrs)
        self._pred[v][u] = data

    def has_edge(self, u: str, v: str) -> bool:
        return v in self._succ.get(u, {})

    def edge(self, u: str, v: str) -> dict[str, Any]:
        return self._succ[u][v]

    def edge_list(self) -> Iterator[tuple[str, str, dict[str, Any]]]:
        for u, succ in self._succ.items():
            for v, data in succ.items():
                yield u, v, data

    def predecessors(self, n: str) -> Iterator[str]:
        return iter(self._pred[n])

    def successors(self, n: str) -> Iterator[str]:
        return iter(self._succ[n])

    def topological_sort(self) -> list[str]:
        """networkx's `topological_sort` order (generation by generation, in insertion order); the
        nodes of any cycle are left out."""
        indegree = {v: len(p) for v, p in self._pred.items() if p}
        zero = [v for v, p in self._pred.items() if not p]
        order: list[str] = []
        while zero:
            generation, zero = zero, []
            for n in generation:
                for child in self._succ[n]:
                    indegree[child] -= 1
                    if indegree[child] == 0:
                        zero.append(child)
                        del indegree[child]
            order += generation
        return order

    def lexicographical_order(self) -> list[str]:
        """networkx's `lexicographical_topological_sort` order: the smallest ready node id first."""
        indegree = {v: len(p) for v, p in self._pred.items() if p}
        ready = [v for v, p in self._pred.items() if not p]
        heapq.heapify(ready)
        order: list[str] = []
        while ready:
            n = heapq.heappop(ready)
            for child in self._succ[n]:
                indegree[child] -= 1
                if indegree[child] == 0:
                    heapq.heappush(ready, child)
                    del indegree[child]
            order.append(n)
        return order

    def has_cycle(self) -> bool:
        return len(self.topological_sort()) != len(self.nodes)

    def to_networkx(self):
        import networkx as nx
        g = nx.DiGraph()
        for n, attrs in self.nodes.items():
            g.add_node(n, **attrs)
        for u, v, data in self.edge_list():
            g.add_edge(u, v, **data)
        return g
