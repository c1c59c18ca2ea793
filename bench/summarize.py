#!/usr/bin/python3
"""summarize.py RESULTS.jsonl - the targets table from `hearth bench --json` lines.

One row per (model, threads): pp and tg rates (mean +- sd), the memory read
bandwidth, the decode ceiling it implies and tg as a percentage of it, the time
to first token, load time and peak RSS against the weights + KV cache + 10%
budget. Columns a model was not measured for show "-". Standard library only.
"""
import json
import sys


def fmt_rate(r, mean, sd):
    if r is None:
        return "-"
    return "%.2f ± %.2f" % (r[mean], r[sd])


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: summarize.py RESULTS.jsonl")
    rows = {}     # (model, threads) -> {test kind: json}
    loads = {}    # model -> [load lines]: load ms from the last (run.sh's page-cache run), RSS the peak
    order = []
    with open(sys.argv[1]) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                j = json.loads(line)
            except ValueError as e:
                sys.exit("%s:%d: %s" % (sys.argv[1], n, e))
            model, test = j.get("model", "?"), j.get("test", "")
            if test == "load":
                loads.setdefault(model, []).append(j)
                continue
            key = (model, j.get("threads", 0))
            if key not in rows:
                rows[key] = {}
                order.append(key)
            kind = "pp" if test.startswith("pp") else "tg" if test.startswith("tg") else \
                "ttft" if test.startswith("ttft") else test
            rows[key][kind] = j

    print("| model | isa | threads | pp t/s | tg t/s | read GB/s | tg ceiling t/s | tg % of ceiling "
          "| TTFT ms | load ms | peak RSS MiB | RSS budget MiB |")
    print("| ----- | --- | ------: | -----: | -----: | --------: | -------------: | --------------: "
          "| ------: | ------: | -----------: | -------------: |")
    for key in order:
        model, threads = key
        r = rows[key]
        pp, tg, bw, tt = r.get("pp"), r.get("tg"), r.get("membw"), r.get("ttft")
        ld = loads.get(model)
        big = max(ld, key=lambda x: x["peak_rss_mib"]) if ld else None
        isa = next((x["isa"] for x in r.values() if "isa" in x), "-")
        cells = [
            model, isa, str(threads),
            (pp["test"] + " " + fmt_rate(pp, "avg_ts", "stddev_ts")) if pp else "-",
            (tg["test"] + " " + fmt_rate(tg, "avg_ts", "stddev_ts")) if tg else "-",
            "%.2f" % bw["membw_gbps"] if bw else "-",
            "%.2f" % bw["ceiling_ts"] if bw else "-",
            "%.1f %%" % bw["pct_of_ceiling"] if bw and bw.get("pct_of_ceiling") is not None else "-",
            ("%s %s" % (tt["test"], "%.1f ± %.1f" % (tt["avg_ms"], tt["stddev_ms"]))) if tt else "-",
            "%.1f" % ld[-1]["load_ms"] if ld else "-",
            "%.1f" % big["peak_rss_mib"] if big else "-",
            "%.1f" % big["rss_budget_mib"] if big else "-",
        ]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
