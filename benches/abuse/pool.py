"""Pools the latency distributions of benches/abuse/run.sh's slices.

Reads lines `slice <case> <GET|POST> <alone|flood> from <time>`, each followed by
wrk's `quantiles: <requests> <1,000 quantiles in µs>` and `seconds: <n>`, and prints, per case
and kind, A's p50 / p99 / p99.9 over all its slices alone and over all its slices
during B's flood, and the p99 ratio. Each quantile stands for a thousandth of its
slice's requests, so a slice weighs what it served. Then the median over the slices
of each side of their own p99, and its ratio: a stall of the machine that lands in one
slice moves the pooled p99 of that side, but not this median.
"""
import statistics
import re
import sys
from collections import defaultdict

CASES = {
    "kids": "(a) unknown kids, B's quota out of reach",
    "kids-quota": "(a′) unknown kids, B's default quota",
    "quota": "(b) valid POSTs above B's quota",
}


def percentile(weighted, p):
    total = sum(weight for _, weight in weighted)
    seen = 0.0
    for value, weight in weighted:
        seen += weight
        if seen >= total * p / 100:
            return value
    return weighted[-1][0]


def main(path):
    pooled = defaultdict(list)
    slice_p99s = defaultdict(list)
    served = defaultdict(lambda: [0, 0.0])
    current = None
    for line in open(path):
        if line.startswith("slice "):
            _, case, kind, mode = line.split()[:4]
            current = (case, kind, mode)
        elif line.startswith("quantiles: ") and current:
            numbers = line.split()[1:]
            requests, values = int(numbers[0]), [int(v) for v in numbers[1:]]
            pooled[current] += [(value, requests / len(values)) for value in values]
            slice_p99s[current].append(values[989])
            served[current][0] += requests
        elif (match := re.match(r"seconds: ([\d.]+)", line)) and current:
            served[current][1] += float(match.group(1))
    print("| case | A | slices alone: req/s, p50 / p99 / p99.9 ms | during B's flood | p99 × alone "
          "| median slice p99 alone / flood ms | × alone |")
    print("|---|---|---|---|---:|---|---:|")
    for case, label in CASES.items():
        for kind in ("GET", "POST"):
            cells = []
            p99s = []
            for mode in ("alone", "flood"):
                weighted = sorted(pooled[(case, kind, mode)])
                if not weighted:
                    cells.append("—")
                    continue
                p50, p99, p999 = (percentile(weighted, p) / 1000 for p in (50, 99, 99.9))
                requests, seconds = served[(case, kind, mode)]
                rate = f"{requests / seconds:,.0f}" if seconds else "?"
                cells.append(f"{rate}, {p50:.2f} / {p99:.2f} / {p999:.2f}")
                p99s.append(p99)
            ratio = f"{p99s[1] / p99s[0]:.2f}×" if len(p99s) == 2 else "—"
            medians = [slice_p99s[(case, kind, mode)] for mode in ("alone", "flood")]
            if all(medians):
                alone, flood = (statistics.median(side) / 1000 for side in medians)
                typical = f"{alone:.2f} / {flood:.2f} | {flood / alone:.2f}×"
            else:
                typical = "— | —"
            print(f"| {label} | {kind} | {cells[0]} | {cells[1]} | {ratio} | {typical} |")


if __name__ == "__main__":
    main(sys.argv[1])
