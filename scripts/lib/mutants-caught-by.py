#!/usr/bin/env python3
"""Reads a cargo-mutants output directory (mutants.out) and prints the counts, then each mutant
with its outcome and, for a caught one, the tests that failed against it: which check caught
which mutation. Usage: mutants-caught-by.py [DIR/mutants.out]"""
import json
import re
import signal
import sys
from collections import Counter
from pathlib import Path

signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # quiet when piped into head
out = Path(sys.argv[1] if len(sys.argv) > 1 else "mutants.out")
outcomes = json.loads((out / "outcomes.json").read_text())["outcomes"]
labels = {
    "CaughtMutant": "caught",
    "MissedMutant": "missed",
    "Unviable": "unviable",
    "Timeout": "timeout",
}
mutants = [o for o in outcomes if isinstance(o["scenario"], dict) and "Mutant" in o["scenario"]]
counts = Counter(labels.get(o["summary"], o["summary"]) for o in mutants)
print(
    "mutants {}: caught {}, missed {}, timeout {}, unviable {}".format(
        len(mutants), counts["caught"], counts["missed"], counts["timeout"], counts["unviable"]
    )
)
for o in mutants:
    name = o["scenario"]["Mutant"]["name"]
    outcome = labels.get(o["summary"], o["summary"])
    line = f"{outcome:8} {name}"
    if outcome == "caught":
        log = (out / o["log_path"]).read_text(errors="replace")
        # libtest's list after "failures:" (the second one: the first holds the panics).
        lists = re.findall(r"^failures:\n((?:    \S.*\n)+)", log, re.M)
        failed = sorted({t.strip() for block in lists for t in block.splitlines()})
        line += "\n         caught by: " + (", ".join(failed) if failed else "(the build or a crash)")
    print(line)
