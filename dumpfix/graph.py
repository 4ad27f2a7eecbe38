"""Graph algorithms on small FK graphs: components, stable order, cheapest cut.

Nodes are hashable; an edge ``(a, b)`` means "a must be loaded after b"
(a references b). Kept free of dump and catalog types so it can be tested
on its own.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Hashable, Iterable, Sequence
from itertools import combinations
from typing import TypeVar

N = TypeVar("N", bound=Hashable)
E = TypeVar("E")

# Up to this many breakable edges in one component the cheapest cut is found
# exactly; beyond it, a greedy cut that is minimal but maybe not minimum.
EXACT_LIMIT = 14


def strongly_connected(nodes: Sequence[N], edges: Iterable[tuple[N, N]]) -> list[list[N]]:
    """Tarjan's components, iteratively (deep FK chains must not hit the recursion limit)."""
    succ: dict[N, list[N]] = {n: [] for n in nodes}
    for a, b in edges:
        succ[a].append(b)
    index: dict[N, int] = {}
    low: dict[N, int] = {}
    on_stack: set[N] = set()
    stack: list[N] = []
    result: list[list[N]] = []
    counter = 0
    for root in nodes:
        if root in index:
            continue
        work: list[tuple[N, int]] = [(root, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            children = succ[node]
            if i < len(children):
                work.append((node, i + 1))
                child = children[i]
                if child not in index:
                    work.append((child, 0))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            if low[node] == index[node]:
                component = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    component.append(top)
                    if top == node:
                        break
                result.append(component)
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return result


def stable_order(nodes: Sequence[N], edges: Iterable[tuple[N, N]]) -> list[N] | None:
    """Dependencies first, otherwise the given order (Kahn with a position heap).

    None when the edges have a cycle.
    """
    position = {n: i for i, n in enumerate(nodes)}
    waiting = {n: 0 for n in nodes}
    dependents: dict[N, list[N]] = {n: [] for n in nodes}
    for a, b in edges:
        if a == b:
            continue
        waiting[a] += 1
        dependents[b].append(a)
    ready = [position[n] for n in nodes if waiting[n] == 0]
    heapq.heapify(ready)
    order: list[N] = []
    while ready:
        node = nodes[heapq.heappop(ready)]
        order.append(node)
        for dep in dependents[node]:
            waiting[dep] -= 1
            if waiting[dep] == 0:
                heapq.heappush(ready, position[dep])
    return order if len(order) == len(nodes) else None


def cheapest_cut(
    nodes: Sequence[N],
    edges: Sequence[tuple[N, N]],
    breakable: Sequence[bool],
    cost: Callable[[int], int],
) -> frozenset[int] | None:
    """Indexes of the edges to remove so that the rest has no cycle.

    Minimises, in this order: the summed cost, how many pairs of nodes the
    resulting order swaps against the given one (so that an order that
    already works is kept: running twice changes nothing), the number of edges.
    None when even removing every breakable edge leaves a cycle.
    """
    candidates = [i for i, ok in enumerate(breakable) if ok and edges[i][0] != edges[i][1]]
    fixed = [e for i, e in enumerate(edges) if i not in set(candidates) and e[0] != e[1]]
    if stable_order(nodes, fixed) is None:
        return None
    position = {n: i for i, n in enumerate(nodes)}

    def score(cut: frozenset[int]) -> tuple[int, int, int, tuple[int, ...]] | None:
        kept = [e for i, e in enumerate(edges) if i not in cut and e[0] != e[1]]
        order = stable_order(nodes, kept)
        if order is None:
            return None
        # How far the resulting order strays from the given one: pairs swapped.
        moved = sum(1 for i, a in enumerate(order) for b in order[i + 1 :] if position[a] > position[b])
        return (sum(cost(i) for i in cut), moved, len(cut), tuple(sorted(cut)))

    best: tuple[tuple[int, int, int, tuple[int, ...]], frozenset[int]] | None = None
    if len(candidates) <= EXACT_LIMIT:
        for size in range(len(candidates) + 1):
            for combo in combinations(candidates, size):
                cut = frozenset(combo)
                s = score(cut)
                if s is not None and (best is None or s < best[0]):
                    best = (s, cut)
        return best[1] if best else None
    # Greedy: cut everything breakable, then give back the costliest edges
    # that keep the graph acyclic.
    removed = set(candidates)
    for i in sorted(candidates, key=lambda i: -cost(i)):
        kept = [e for j, e in enumerate(edges) if (j not in removed or j == i) and e[0] != e[1]]
        if stable_order(nodes, kept) is not None:
            removed.discard(i)
    return frozenset(removed)
