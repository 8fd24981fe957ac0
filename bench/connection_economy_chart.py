#!/usr/bin/python3
"""bench/connection_economy_chart.py RESULTS.json OUT.svg

Draws the connection-economy figure of docs/benchmarks.md from the JSON that
bench/connection_economy.pl prints: per number of users, server connections
and backend memory (PSS, MB) of per-user pools vs one shared pool, on log
scales (bars side by side), with the runs that broke marked.  bench/run's
figure (bench/harness/figure_economy.py) calls draw() on its own results.
"""
import json
import math
import sys

COLORS = {"per-user": "#c0504d", "shared": "#4f81bd"}
LABELS = {"per-user": "per-user pools (max 3 each)", "shared": "one shared pool (max 20)"}


def panel(results, key, title, unit, x0, width=360, height=220):
    users = sorted({r["users"] for r in results})
    vmax = max([r[key] for r in results if r[key]] + [1])
    top = 10 ** math.ceil(math.log10(vmax))
    out = [f'<text x="{x0 + width / 2}" y="20" text-anchor="middle" font-size="14">{title}</text>']
    base_y, plot_h = 40 + height, height
    for dec in range(0, int(math.log10(top)) + 1):
        y = base_y - plot_h * dec / math.log10(top)
        out.append(f'<line x1="{x0 + 40}" x2="{x0 + width}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{x0 + 36}" y="{y + 4:.1f}" text-anchor="end" font-size="10">{10 ** dec:g}</text>')
    group_w = (width - 50) / len(users)
    for i, n in enumerate(users):
        gx = x0 + 50 + i * group_w
        for j, mode in enumerate(["per-user", "shared"]):
            r = next((r for r in results if r["users"] == n and r["mode"] == mode), None)
            if r is None:
                continue
            v = max(r[key], 1)
            h = plot_h * math.log10(v) / math.log10(top)
            bx = gx + 8 + j * (group_w - 16) / 2
            bw = (group_w - 16) / 2 - 4
            out.append(f'<rect x="{bx:.1f}" y="{base_y - h:.1f}" width="{bw:.1f}" height="{h:.1f}" fill="{COLORS[mode]}"/>')
            label = f'{r[key]:g}' + (" ✗" if r.get("errors") else "")
            out.append(f'<text x="{bx + bw / 2:.1f}" y="{base_y - h - 4:.1f}" text-anchor="middle" font-size="10">{label}</text>')
        out.append(f'<text x="{gx + group_w / 2:.1f}" y="{base_y + 16}" text-anchor="middle" font-size="11">{n:,} users</text>')
    out.append(f'<text x="{x0 + 12}" y="{40 + plot_h / 2}" font-size="10" transform="rotate(-90 {x0 + 12} {40 + plot_h / 2})" text-anchor="middle">{unit} (log)</text>')
    return out


def draw(results):
    """The chart as SVG text, from the driver's per-run results."""
    parts = ['<svg xmlns="http://www.w3.org/2000/svg" width="780" height="330" font-family="sans-serif">',
             '<rect width="100%" height="100%" fill="white"/>']
    parts += panel(results, "server_connections", "Server connections (peak)", "connections", 10)
    parts += panel(results, "backend_pss_mb", "Backend memory (sum of PSS)", "MB", 400)
    for k, mode in enumerate(["per-user", "shared"]):
        parts.append(f'<rect x="{60 + k * 280}" y="300" width="12" height="12" fill="{COLORS[mode]}"/>')
        parts.append(f'<text x="{78 + k * 280}" y="310" font-size="11">{LABELS[mode]}</text>')
    parts.append('<text x="640" y="310" font-size="11">✗ = requests failed</text>')
    parts.append('</svg>')
    return "\n".join(parts) + "\n"


def main():
    with open(sys.argv[1]) as f:
        data = json.load(f)
    with open(sys.argv[2], "w") as f:
        f.write(draw(data["results"]))


if __name__ == "__main__":
    main()
