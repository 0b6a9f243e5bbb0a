"""Compare anyzmq (asyncio, asyncio+uvloop, trio), aiozmq.rpc 1.0 and a plain
synchronous pyzmq loop, each server in its own process and each client in another,
over tcp://127.0.0.1.

    python benchmarks/run.py                 # every workload, 3 repetitions
    python benchmarks/run.py --quick         # a tenth of the sizes, 1 repetition
    python benchmarks/run.py -w seq -w conc -r 5
    python benchmarks/run.py -w sweep        # echo from 1 KiB to 32 MiB
    python benchmarks/run.py -w stream -w stream-256k   # one stream of N items
    python benchmarks/run.py -w curve        # what CURVE costs anyzmq (plain TCP vs CURVE)
    python benchmarks/run.py -w latency      # median latency at 1 to 1,000 calls in flight

Peers are run in a rotated order in each repetition; the table gives the median of
the repetitions and the ratios to aiozmq and to the plain loop. Results go to
``benchmarks/results/latest.json`` (and a PNG chart when matplotlib is installed).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
sys.path.insert(0, str(HERE))

# The stream workloads (#10) live in streams.py; aiozmq has no streams.
from streams import STREAM_HEADLINE, STREAM_SIZES  # noqa: E402
from workloads import PAYLOADS, SERVER_KIND, SIZES, SWEEP, warm_up_calls  # noqa: E402

SIZES = {**SIZES, **STREAM_SIZES}
SERVER_KIND = {**SERVER_KIND, **dict.fromkeys(STREAM_SIZES, "rpc")}

#: peer name -> (script, backend argument or None)
PEERS: dict[str, tuple[str, str | None]] = {
    "anyzmq-asyncio": ("peer_anyzmq.py", "asyncio"),
    "anyzmq-uvloop": ("peer_anyzmq.py", "uvloop"),
    "anyzmq-trio": ("peer_anyzmq.py", "trio"),
    "aiozmq": ("peer_aiozmq.py", None),
    "pyzmq-sync": ("peer_pyzmq.py", None),
}
#: The number each workload is judged by.
HEADLINE = {
    "seq": "calls_per_s",
    "conc": "calls_per_s",
    "big": "mb_per_s",
    "notify": "msgs_per_s",
    "pubsub": "msgs_per_s",
    "fanin": "calls_per_s",
    "memory": "library_bytes_per_call",
    "curve": "seq_curve_ratio",
    **dict.fromkeys(PAYLOADS, "mb_per_s"),
    **STREAM_HEADLINE,
}
LOWER_IS_BETTER = {"memory"}
#: Workloads only anyzmq's peers run (CURVE against plain TCP, in one server process).
ANYZMQ_ONLY = {"curve"}
BASELINE, LIMIT = "aiozmq", "pyzmq-sync"


def available_peers() -> list[str]:
    peers = list(PEERS)
    if importlib.util.find_spec("uvloop") is None:
        peers.remove("anyzmq-uvloop")
    if importlib.util.find_spec("aiozmq") is None:
        peers.remove("aiozmq")
    return peers


def command(peer: str, *args: str) -> list[str]:
    script, backend = PEERS[peer]
    return [sys.executable, str(HERE / script), *args, *([backend] if backend else [])]


def cpu_seconds(pid: int) -> float | None:
    """CPU time (user + system) used so far by process ``pid``; None off Linux."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_status(pid: int, field: str) -> int | None:
    """A memory figure of process ``pid`` in bytes (``VmRSS``, ``VmHWM``: its peak);
    None off Linux."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def minor_faults(pid: int) -> int | None:
    """Minor page faults of process ``pid`` so far; None off Linux."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return int(stat.read().rsplit(")", 1)[1].split()[7])
    except OSError:
        return None


def run_one(peer: str, workload: str, n: int) -> dict[str, float]:
    """One server process and one client process; the client's JSON result."""
    server = subprocess.Popen(
        command(peer, "serve", SERVER_KIND[workload]),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdin is not None
    assert server.stdout is not None
    try:
        service, control = server.stdout.readline().split()
        cpu_before = cpu_seconds(server.pid)
        rss_before = proc_status(server.pid, "VmRSS")
        faults_before = minor_faults(server.pid)
        client = subprocess.run(
            command(peer, "client", workload, str(n), service, control),
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if client.returncode != 0:
            raise RuntimeError(f"{peer} {workload} failed:\n{client.stderr[-3000:]}")
        result: dict[str, float] = json.loads(client.stdout.strip().splitlines()[-1])
        cpu_after = cpu_seconds(server.pid)
        if cpu_before is not None and cpu_after is not None and workload not in ANYZMQ_ONLY:
            # Steadier than throughput on a shared machine (warm-up included).
            result["server_cpu_us_per_op"] = (cpu_after - cpu_before) / n * 1e6
        if workload in PAYLOADS:
            calls = n + warm_up_calls(n)
            peak, faults = proc_status(server.pid, "VmHWM"), minor_faults(server.pid)
            if peak is not None and rss_before is not None:
                # Peak resident memory over what the server had before, in payloads.
                result["server_peak_x"] = (peak - rss_before) / PAYLOADS[workload]
            if faults is not None and faults_before is not None:
                result["server_faults_per_op"] = (faults - faults_before) / calls
        return result
    finally:
        server.stdin.close()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def median_results(runs: list[dict[str, float]]) -> dict[str, float]:
    keys = {key for run in runs for key in run}
    return {key: statistics.median(run[key] for run in runs if key in run) for key in keys}


def ratio(value: float | None, other: float | None, workload: str) -> float | None:
    if value is None or other is None or other == 0 or value == 0:
        return None
    return other / value if workload in LOWER_IS_BETTER else value / other


def table(summary: dict[str, dict[str, dict[str, float]]], peers: list[str]) -> str:
    lines = []
    for workload, by_peer in summary.items():
        key = HEADLINE.get(workload)
        if key is None:
            continue
        unit = key.replace("_per_", "/").replace("_", " ")
        lines.append(f"\n### {workload} ({unit}; median)\n")
        lines.append(f"| peer | {unit} | vs aiozmq | vs plain pyzmq | details |")
        lines.append("|---|---|---|---|---|")
        for peer in peers:
            if peer not in by_peer and workload in ANYZMQ_ONLY:
                continue
            result = by_peer.get(peer, {})
            value = result.get(key)
            details = ", ".join(f"{k} {_num(v)}" for k, v in sorted(result.items()) if k != key)
            cells = [
                f"{value:,.1f}" if value is not None else "n/a",
                _fmt(ratio(value, by_peer.get(BASELINE, {}).get(key), workload)),
                _fmt(ratio(value, by_peer.get(LIMIT, {}).get(key), workload)),
            ]
            lines.append(f"| {peer} | {' | '.join(cells)} | {details} |")
    return "\n".join(lines)


def _num(value: float) -> str:
    return f"{value:,.1f}" if abs(value) < 100 else f"{value:,.0f}"


def _fmt(value: float | None) -> str:
    return f"{value:.2f}x" if value is not None else "n/a"


def chart(summary: dict[str, dict[str, dict[str, float]]], peers: list[str], path: Path) -> bool:
    if importlib.util.find_spec("matplotlib") is None:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    swept = [w for w in SWEEP if w in summary]
    panels = 1 + ("latency" in summary) + bool(swept)
    figure, axes = plt.subplots(1, panels, figsize=(6.5 * panels, 5), squeeze=False)
    left, *others = axes[0]
    workloads = [
        w
        for w in HEADLINE
        if w in summary and (w == "big" or w not in SWEEP) and w not in ANYZMQ_ONLY
    ]
    width = 0.8 / max(1, len(peers))
    for index, peer in enumerate(peers):
        ratios = [
            ratio(
                summary[w].get(peer, {}).get(HEADLINE[w]),
                summary[w].get(BASELINE, {}).get(HEADLINE[w]),
                w,
            )
            or 0
            for w in workloads
        ]
        positions = [i + index * width for i in range(len(workloads))]
        left.bar(positions, ratios, width, label=peer)
    left.axhline(1.0, color="black", linewidth=0.8)
    left.set_xticks([i + 0.4 - width / 2 for i in range(len(workloads))], workloads)
    left.set_ylabel("ratio to aiozmq (higher is better; memory inverted)")
    left.legend(fontsize=8)
    if "latency" in summary:
        right = others.pop(0)
        levels = (1, 10, 100, 1000)
        for peer in peers:
            points = [summary["latency"].get(peer, {}).get(f"p50_us_at_{k}") for k in levels]
            if all(point is not None for point in points):
                right.plot(levels, points, marker="o", label=peer)
        right.set_xscale("log")
        right.set_yscale("log")
        right.set_xlabel("calls in flight")
        right.set_ylabel("median latency (µs)")
        right.legend(fontsize=8)
    if swept:
        sizes = others.pop(0)
        for peer in peers:
            measured = [
                (PAYLOADS[w], summary[w][peer]["mb_per_s"]) for w in swept if peer in summary[w]
            ]
            sizes.plot([x for x, _ in measured], [y for _, y in measured], marker="o", label=peer)
        sizes.set_xscale("log", base=2)
        sizes.set_xticks([PAYLOADS[w] for w in swept], [w.removeprefix("big-") for w in swept])
        sizes.set_yscale("log")
        sizes.set_xlabel("message size (big = 256 KiB; random bytes)")
        sizes.set_ylabel("MB/s echoed (median; log scale)")
        sizes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    return True


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "-w",
        "--workload",
        action="append",
        choices=[*SIZES, "sweep"],
        help="sweep: echo of 1 KiB, 64 KiB, 256 KiB (big), 4 MiB and 32 MiB",
    )
    parser.add_argument("-p", "--peer", action="append", choices=list(PEERS))
    parser.add_argument("-r", "--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="a tenth of the sizes, one repetition")
    args = parser.parse_args()
    chosen = args.workload or list(SIZES)
    workloads = list(dict.fromkeys(w for c in chosen for w in (SWEEP if c == "sweep" else [c])))
    peers = [p for p in (args.peer or available_peers()) if p in available_peers()]
    repeat = 1 if args.quick else args.repeat
    runs: dict[str, dict[str, list[dict[str, float]]]] = {
        w: {p: [] for p in peers} for w in workloads
    }
    for repetition in range(repeat):
        order = peers[repetition % len(peers) :] + peers[: repetition % len(peers)]
        for workload in workloads:
            n = max(1, SIZES[workload] // (10 if args.quick else 1))
            for peer in order:
                if peer == LIMIT and workload == "memory":
                    continue
                if (peer == BASELINE and workload in STREAM_SIZES) or (
                    workload in ANYZMQ_ONLY and not peer.startswith("anyzmq")
                ):
                    continue
                started = time.perf_counter()
                result = run_one(peer, workload, n)
                runs[workload][peer].append(result)
                print(
                    f"[{repetition + 1}/{repeat}] {workload:7} {peer:15} "
                    f"{json.dumps({k: round(v, 1) for k, v in result.items()})} "
                    f"({time.perf_counter() - started:.1f} s)",
                    flush=True,
                )
    summary = {w: {p: median_results(r) for p, r in by.items() if r} for w, by in runs.items()}
    print(table(summary, peers))
    RESULTS.mkdir(exist_ok=True)
    record: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        "python": sys.version.split()[0],
        "repeat": repeat,
        "quick": args.quick,
        "medians": summary,
        "runs": runs,
    }
    (RESULTS / "latest.json").write_text(json.dumps(record, indent=1))
    if chart(summary, peers, RESULTS / "latest.png"):
        print(f"\nchart: {RESULTS / 'latest.png'}")
    print(f"results: {RESULTS / 'latest.json'}")


if __name__ == "__main__":
    main()
