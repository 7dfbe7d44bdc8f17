"""`python -m benchmarks`: time the workloads on engine backends and peers, in one process.

  python -m benchmarks                            every available backend, every workload
  python -m benchmarks --backend opencl --quick   a subset on one backend, in under a minute
  python -m benchmarks --workloads matmul conv    only workloads whose name or group matches
  python -m benchmarks --compare old.json         run, then show the change from an old run
  python -m benchmarks --compare old.json new.json   compare two saved runs, run nothing

OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE, when set, slow a current NumPy; the run records whether
they were set. For a clean run: env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m benchmarks
"""
import engine  # noqa: F401,I001  (before NumPy: engine shortens OpenBLAS's idle spin then)
import argparse
import datetime
import os
import sys
import time

from benchmarks import machine, peers, report, runner, workloads

RESULTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", action="append", dest="backends", metavar="NAME",
                        help="engine backend to measure (repeatable; default: all available)")
    parser.add_argument("--peers", nargs="*", metavar="PEER",
                        help=f"peers to run (default: those matching the backends; known: "
                             f"{', '.join(peers.PEERS)}); no names: none")
    parser.add_argument("--workloads", nargs="+", metavar="TEXT",
                        help="only workloads whose name or group contains one of these")
    parser.add_argument("--quick", action="store_true",
                        help="the quick subset with few, short samples")
    parser.add_argument("--name", help="result name (default: date, time and backends)")
    parser.add_argument("--output-dir", default=RESULTS_DIR,
                        help="where <name>.json and <name>.png go (default: benchmarks/results)")
    parser.add_argument("--compare", nargs="+", metavar="JSON",
                        help="old.json: show the change after this run; old.json new.json: "
                             "compare two saved runs without running")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.compare and len(args.compare) > 2:
        raise SystemExit("--compare takes old.json, or old.json new.json")
    if args.compare and len(args.compare) == 2:
        old, new = (report.read_json(path) for path in args.compare)
        print(report.format_comparison(old, new))
        return 0
    run = measure_run(args)
    run["command"] = " ".join(["python -m benchmarks", *(sys.argv[1:] if argv is None else argv)])
    print(report.format_machine(run))
    print()
    print(report.format_table(run))
    os.makedirs(args.output_dir, exist_ok=True)
    stem = os.path.join(args.output_dir, run["name"])
    report.write_json(run, stem + ".json")
    report.write_chart(run, stem + ".png")
    print(f"\nwrote {stem}.json and {stem}.png ({run['seconds']:.0f} s)")
    if args.compare:
        print()
        print(report.format_comparison(report.read_json(args.compare[0]), run))
    return 0


def measure_run(args):
    """Run every selected workload on every implementation; returns the run as a dict."""
    started = time.perf_counter()
    settings = runner.QUICK if args.quick else runner.FULL
    engines, missing = peers.engine_backends(args.backends)
    device_classes = {impl.device_class for impl in engines}
    peer_impls, missing_peers = peers.start_peers(device_classes, args.peers)
    implementations = engines + peer_impls
    chosen = workloads.select(args.workloads, args.quick)
    results = []
    for workload in chosen:
        for row in runner.run_workload(workload, implementations, settings):
            results.append(row)
            print(_progress(row), file=sys.stderr, flush=True)
    created = datetime.datetime.now(datetime.timezone.utc)
    name = args.name or created.strftime("%Y%m%d-%H%M%S-") + "-".join(
        impl.backend_name for impl in engines)
    return {
        "name": name,
        "created": created.isoformat(timespec="seconds"),
        "settings": {"quick": args.quick, **settings.__dict__},
        "machine": machine.describe(implementations, {**missing, **missing_peers}),
        "ceilings": machine.measure_ceilings(),
        "results": report.add_ratios(results),
        "seconds": time.perf_counter() - started,
    }


def _progress(row):
    if row["status"] == "ok":
        return f"  {row['workload']} on {row['implementation']}: " \
               f"{report.format_time(row['median_s'])}"
    return f"  {row['workload']} on {row['implementation']}: {row['note']}"


if __name__ == "__main__":
    sys.exit(main())
