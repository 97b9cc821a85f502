#!/usr/bin/env python3
"""Flame graph from `perf script` output, as a self-contained SVG (python3 standard library only).

    perf script -i perf.data | perf/flamegraph.py --title "trpc-broker pubsub" > flame.svg
    perf/flamegraph.py --folded < perf.script > stacks.folded     # Brendan Gregg's folded format

Each sample's call chain becomes one stack, root first; widths are proportional to samples. The
SVG needs no script or network: hover a frame for its name, samples and share (SVG <title>).
"""
import argparse
import hashlib
import html
import re
import sys

FRAME_RE = re.compile(r"^\s*[0-9a-fA-F]+\s+(.+?)(?:\s+\((.*)\))?$")
OFFSET_RE = re.compile(r"\+0x[0-9a-fA-F]+$")


def frame_name(line):
    """'  ffffffff8100 sym+0x1c (/lib/x.so)' -> 'sym', or the DSO's base name when unresolved."""
    m = FRAME_RE.match(line)
    if not m:
        return None
    sym, dso = m.group(1), m.group(2) or ""
    sym = OFFSET_RE.sub("", sym)
    if sym in ("[unknown]", ""):
        base = dso.rsplit("/", 1)[-1].strip("[]")
        return "[%s]" % base if base and base != "unknown" else "[unknown]"
    return sym


def parse(lines):
    """Folded stacks {"comm;root;...;leaf": samples} from perf script text."""
    stacks = {}
    comm, frames = None, []

    def flush():
        if comm is not None and frames:
            key = ";".join([comm] + list(reversed(frames)))
            stacks[key] = stacks.get(key, 0) + 1

    for raw in lines:
        line = raw.rstrip("\n")
        if not line.strip():
            flush()
            comm, frames = None, []
        elif line[0] not in " \t":
            flush()
            comm, frames = line.split()[0], []
        elif comm is not None:
            name = frame_name(line)
            if name:
                frames.append(name)
    flush()
    return stacks


def build_tree(stacks):
    root = {"name": "all", "value": 0, "children": {}}
    for stack, n in stacks.items():
        root["value"] += n
        node = root
        for name in stack.split(";"):
            child = node["children"].setdefault(name, {"name": name, "value": 0, "children": {}})
            child["value"] += n
            node = child
    return root


def color(name):
    h = int(hashlib.md5(name.encode()).hexdigest()[:6], 16)
    if name.startswith("[k]") or "kernel" in name:
        return "rgb(%d,%d,%d)" % (200 + h % 55, 120 + (h >> 8) % 60, 40)
    return "rgb(%d,%d,%d)" % (205 + h % 50, 80 + (h >> 8) % 130, 30 + (h >> 16) % 40)


def render(root, title, width=1200, row=17, min_px=0.3):
    total = max(root["value"], 1)
    rects = []

    def depth_of(node):
        return 1 + max([depth_of(c) for c in node["children"].values()] or [0])

    depth = depth_of(root)
    height = (depth + 3) * row
    scale = (width - 20) / total

    def walk(node, x, level):
        w = node["value"] * scale
        if w < min_px:
            return
        y = height - (level + 1) * row - row
        pct = 100.0 * node["value"] / total
        label = html.escape(node["name"])
        tip = "%s (%d samples, %.2f%%)" % (label, node["value"], pct)
        chars = int(w / 7)
        text = label if len(node["name"]) <= chars else (html.escape(node["name"][: chars - 2]) + ".." if chars > 3 else "")
        rects.append('<g><title>%s</title><rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s" rx="2"/>'
                     '<text x="%.1f" y="%d">%s</text></g>' % (tip, x, y, w, row - 1, color(node["name"]), x + 3, y + row - 5, text))
        cx = x
        for child in sorted(node["children"].values(), key=lambda c: c["name"]):
            walk(child, cx, level + 1)
            cx += child["value"] * scale

    walk(root, 10, 0)
    head = ('<?xml version="1.0" standalone="no"?>\n'
            '<svg version="1.1" width="%d" height="%d" xmlns="http://www.w3.org/2000/svg">\n'
            '<style>text{font-family:monospace;font-size:11px;fill:#000;pointer-events:none}'
            'rect:hover{stroke:#000;stroke-width:0.5}</style>\n'
            '<rect x="0" y="0" width="%d" height="%d" fill="#f8f8f0"/>\n'
            '<text x="%d" y="%d" style="font-size:15px">%s (%d samples)</text>\n'
            % (width, height, width, height, 10, row, html.escape(title), total))
    return head + "\n".join(rects) + "\n</svg>\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("input", nargs="?", help="perf script output (default: stdin)")
    ap.add_argument("--title", default="Flame graph")
    ap.add_argument("--width", type=int, default=1200)
    ap.add_argument("--folded", action="store_true", help="print folded stacks instead of SVG")
    args = ap.parse_args()
    src = open(args.input, encoding="utf-8", errors="replace") if args.input else sys.stdin
    stacks = parse(src)
    if not stacks:
        sys.exit("flamegraph.py: no samples with call chains in the input")
    if args.folded:
        for stack, n in sorted(stacks.items()):
            print("%s %d" % (stack, n))
    else:
        sys.stdout.write(render(build_tree(stacks), args.title, args.width))


if __name__ == "__main__":
    main()
