#!/usr/bin/env python3
"""Peak-concurrency egress floor of a CSV trace (docs/benchmarks.md, policy simulator).

Per image: at the moment its running jobs use the most nodes (single-node jobs packed perfectly, ceil(cores / C);
multi-node jobs whole nodes), each of those nodes must have pulled the image once. Egress >= sum(size x peak nodes).
Assumes the trace's own timing (jobs run from submit to submit + runtime, no queueing). Usage:
  bench/egress-floor.py TRACE.csv [CORES_PER_NODE]
"""
import collections
import math
import sys


def rows(path):
    for line in open(path):
        if line.startswith('#') or line.startswith('submit') or not line.strip():
            continue
        s, r, c, img, sz = line.strip().split(',')
        yield float(s), float(r), int(c), img, int(sz)


def main():
    path = sys.argv[1]
    cpn = int(sys.argv[2]) if len(sys.argv) > 2 else 32
    events = collections.defaultdict(list)
    size = {}
    nocache = 0
    for s, r, c, img, sz in rows(path):
        size[img] = sz
        single, multi = (c, 0) if c <= cpn else (0, math.ceil(c / cpn))
        nocache += sz * (1 if c <= cpn else multi)
        events[img].append((s, 1, single, multi))
        events[img].append((s + r, 0, -single, -multi))
    floor = 0
    for img, ev in events.items():
        ev.sort()
        cores = nodes = peak = 0
        for _, _, dc, dn in ev:
            cores += dc
            nodes += dn
            peak = max(peak, math.ceil(cores / cpn) + nodes)
        floor += peak * size[img]
    print(f"{path}: peak-concurrency egress floor {floor / 2**40:.2f} TiB = {100 * floor / nocache:.1f} % "
          f"of no-cache ({nocache / 2**40:.1f} TiB)")


if __name__ == '__main__':
    main()
