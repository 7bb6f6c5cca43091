"""Folds `perf script` output into one line per stack (`frame;frame;... count`), the
input flame graph tools take. Frames are function names, outermost first."""
import collections
import re
import sys

stacks = collections.Counter()
frames = []
thread = None
for line in sys.stdin:
    line = line.rstrip("\n")
    if not line.strip():
        if thread is not None and frames:
            stacks[";".join([thread] + frames[::-1])] += 1
        frames, thread = [], None
    elif not line.startswith(("\t", " ")):
        thread = line.split()[0]
    else:
        parts = line.strip().split(None, 1)
        name = parts[1] if len(parts) > 1 else "?"
        name = re.sub(r" \(.*\)$", "", name)  # the binary it came from
        name = re.sub(r"\+0x[0-9a-f]+$", "", name)
        frames.append(name.replace(";", ":"))
if thread is not None and frames:
    stacks[";".join([thread] + frames[::-1])] += 1
for stack, count in stacks.most_common():
    print(stack, count)
