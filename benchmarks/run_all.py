"""Run every benchmarks/bench_*.py and collect their JSON into benchmarks/results.json."""

from __future__ import annotations

import json
import subprocess
import sys

from common import RESULTS, ROOT, machine


def main() -> int:
    failed = []
    for script in sorted((ROOT / "benchmarks").glob("bench_*.py")):
        print(f"== {script.name}", flush=True)
        if subprocess.run([sys.executable, str(script)], cwd=ROOT).returncode:
            failed.append(script.name)
    results = {p.stem: json.loads(p.read_text()) for p in sorted(RESULTS.glob("*.json"))}
    out = {"machine": machine(), "results": results, "failed": failed}
    (ROOT / "benchmarks" / "results.json").write_text(
        json.dumps(out, indent=2, sort_keys=True) + "\n"
    )
    print(f"wrote benchmarks/results.json ({len(results)} benchmarks, {len(failed)} failed)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
