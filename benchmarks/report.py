"""Reading a run: ratios to peers, the terminal table, JSON, the PNG chart, and --compare.

A ratio is the engine's speed relative to a peer: peer median time / engine median time.
Above 1 the engine is faster; 0.5 means it takes twice the peer's time. An engine backend is
compared with the peers on its kind of device (cpu, opencl, cuda) and with raw NumPy, the floor.
"""
import json


def add_ratios(results):
    """Give each measured engine row `vs`: {peer: peer time / engine time} for its workload."""
    peers = {}
    for row in results:
        if row["status"] == "ok" and not row["engine"]:
            peers.setdefault(row["workload"], []).append(row)
    for row in results:
        if row["status"] == "ok" and row["engine"]:
            row["vs"] = {peer["implementation"]: peer["median_s"] / row["median_s"]
                         for peer in peers.get(row["workload"], [])
                         if peer["device_class"] == row["device_class"]
                         or peer["implementation"] == "numpy"}
    return results


def format_time(seconds):
    if seconds is None:
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def _rate(row, ceilings):
    """'123 GFLOP/s (61%)': the rate, and its share of the host ceiling where that applies."""
    if row.get("gflops") is not None:
        value, unit, ceiling = row["gflops"], "GFLOP/s", ceilings.get("blas_gflops")
    elif row.get("gbps") is not None:
        value, unit, ceiling = row["gbps"], "GB/s", ceilings.get("copy_gbps")
    else:
        return ""
    share = f" ({100 * value / ceiling:.0f}%)" if ceiling and row.get("host_cpu") else ""
    return f"{value:.3g} {unit}{share}"


def _ratios(row):
    return "  ".join(f"{ratio:.2f}x {peer}" for peer, ratio in sorted(row.get("vs", {}).items()))


def format_table(run):
    """The run as a text table, one line per (workload, implementation), grouped by workload."""
    ceilings = run.get("ceilings", {})
    header = ("workload", "implementation", "median", "min .. max", "first call", "rate",
              "speed vs peers")
    lines = []
    for row in run["results"]:
        if row["status"] == "ok":
            lines.append((row["workload"], row["implementation"], format_time(row["median_s"]),
                          f"{format_time(row['min_s'])} .. {format_time(row['max_s'])}",
                          format_time(row["first_call_s"]), _rate(row, ceilings), _ratios(row)))
        else:
            label = "FAILED " if row["status"] == "failed" else ""
            lines.append((row["workload"], row["implementation"], label + row["note"]))
    full = [header] + [line for line in lines if len(line) == len(header)]
    widths = [max(len(line[i]) for line in (full if i > 1 else [header] + lines))
              for i in range(len(header) - 1)]
    out = []
    previous = None
    for line in [header] + lines:
        if previous is not None and line[0] != previous:
            out.append("")
        previous = line[0] if line is not header else None
        cells = [cell.ljust(width) for cell, width in zip(line, widths)]
        out.append("  ".join(cells[:len(line) - 1] + [line[-1]]).rstrip())
    return "\n".join(out)


def format_machine(run):
    machine, ceilings = run["machine"], run.get("ceilings", {})
    lines = [f"CPU: {machine['cpu']}, {machine['cores']} cores; NumPy {machine['numpy']} with "
             f"{machine['blas']}; Python {machine['python']}"]
    for row in machine["engine_backends"]:
        lines.append(f"engine backend {row['name']}: "
                     + (row["device"] if row["available"] else f"not available: {row['reason']}"))
    for name, text in machine["implementations"].items():
        if not name.startswith("engine:"):
            lines.append(f"peer {name}: {text}")
    for name, reason in machine["not_available"].items():
        lines.append(f"{name}: not available: {reason}")
    set_vars = {k: v for k, v in machine["environment"].items() if v is not None}
    lines.append("environment: " + (", ".join(f"{k}={v}" for k, v in set_vars.items())
                                    or "no OpenBLAS/PoCL variables set"))
    if "load_average" in machine:
        lines.append("load average (1, 5, 15 min) at the end: "
                     + ", ".join(f"{load:.1f}" for load in machine["load_average"]))
    if ceilings:
        lines.append(f"ceilings: BLAS peak {ceilings['blas_gflops']:.1f} GFLOP/s, copy bandwidth "
                     f"{ceilings['copy_gbps']:.1f} GB/s ({ceilings['how']})")
    return "\n".join(lines)


def write_json(run, path):
    with open(path, "w", encoding="utf-8") as out:
        json.dump(run, out, indent=1)
        out.write("\n")


def read_json(path):
    with open(path, encoding="utf-8") as source:
        return json.load(source)


def write_chart(run, path):
    """A horizontal bar chart of every engine-to-peer ratio, each bar drawn from 1 (parity) on
    a log scale, so faster-than-peer bars go right and slower ones left."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    bars = [(f"{row['workload']}  [{row['implementation']} vs {peer}]", ratio, peer)
            for row in run["results"] if row.get("vs") for peer, ratio in row["vs"].items()]
    peers = sorted({peer for _, _, peer in bars})
    colors = {peer: plt.cm.tab10(i % 10) for i, peer in enumerate(peers)}
    figure, axes = plt.subplots(figsize=(10, 1.5 + 0.28 * max(len(bars), 1)))
    if bars:
        positions = range(len(bars))[::-1]
        axes.barh(list(positions), [ratio - 1 for _, ratio, _ in bars], left=1,
                  color=[colors[peer] for _, _, peer in bars])
        axes.set_yticks(list(positions), [label for label, _, _ in bars], fontsize=8)
        axes.set_xscale("log")
        axes.axvline(1.0, color="black", linewidth=0.8)
        axes.legend(handles=[Patch(color=colors[peer], label=peer) for peer in peers],
                    title="peer", fontsize=8, loc="best")
    else:
        axes.text(0.5, 0.5, "no engine result had a peer to compare with", ha="center")
    axes.set_xlabel("engine speed relative to peer (peer time / engine time; > 1: engine faster)")
    axes.set_title(f"{run['name']}: {run['machine']['cpu']}, {run['machine']['cores']} cores",
                   fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def format_comparison(old, new):
    """Median time of each (workload, implementation) measured in both runs, and the change."""
    before = {(r["workload"], r["implementation"]): r["median_s"]
              for r in old["results"] if r["status"] == "ok"}
    lines = [f"change from {old['name']} ({old['created']}) to {new['name']} ({new['created']});"
             " negative: faster now"]
    rows = []
    for row in new["results"]:
        key = (row["workload"], row["implementation"])
        if row["status"] == "ok" and key in before:
            change = row["median_s"] / before[key] - 1
            rows.append((*key, format_time(before[key]), format_time(row["median_s"]),
                         f"{100 * change:+.1f}%"))
    if not rows:
        return lines[0] + "\nno (workload, implementation) was measured in both runs"
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines += ["  ".join(cell.ljust(width) for cell, width in zip(r, widths)).rstrip()
              for r in rows]
    return "\n".join(lines)
