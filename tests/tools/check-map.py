#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""check-map.py {PICTURE FLAT OUT_SVG}... - check `guestmem map` pictures.

PICTURE is the output of `guestmem map` (SVG, or HTML with --html) and FLAT
the output of `guestmem mtree -f` for the same machine. The picture must be
well-formed XML (xml.etree; for HTML the whole page), an <svg> with a width
and a height, and its ranges (the <title> of every `g.r` element) must be
exactly the ranges of the flat views: each flat range drawn, nothing drawn
that no view has. The <svg> element is written to OUT_SVG for the renderer.
Several triples may be given. Exits 1 with a message on the first problem.
"""
import re
import sys
import xml.etree.ElementTree as ET

SVG = "{http://www.w3.org/2000/svg}"


def fail(msg):
    print("check-map: " + msg, file=sys.stderr)
    sys.exit(1)


def shown(name):
    """A name as the picture writes it: other bytes and controls as \\xHH."""
    out = []
    for ch in name:
        cp = ord(ch)
        if 0xDC80 <= cp <= 0xDCFF:  # surrogateescape: an invalid byte
            out.append("\\x%02x" % (cp - 0xDC00))
        elif cp < 0x20 or cp == 0x7F or cp in (0xFFFE, 0xFFFF):
            out.append("".join("\\x%02x" % b for b in ch.encode()))
        else:
            out.append(ch)
    return "".join(out)


def flat_ranges(path):
    line_re = re.compile(r"^  ([0-9a-f]{16})-([0-9a-f]{16}) \(prio -?\d+, "
                         r"[a-z/-]+\): (.*?)(?: @[0-9a-f]{16})?$")
    ranges = set()
    with open(path, "rb") as f:
        for raw in f:
            line = raw.decode("utf-8", "surrogateescape").rstrip("\n")
            m = line_re.match(line)
            if m:
                ranges.add((int(m.group(1), 16), int(m.group(2), 16),
                            shown(m.group(3))))
    return ranges


def main():
    args = sys.argv[1:]
    if not args or len(args) % 3:
        fail("usage: check-map.py {PICTURE FLAT OUT_SVG}...")
    for i in range(0, len(args), 3):
        check(*args[i:i + 3])


def check(picture, flat, out_svg):
    with open(picture, "rb") as f:
        data = f.read()
    try:
        root = ET.fromstring(data)
    except ET.ParseError as e:
        fail("%s: not well-formed XML: %s" % (picture, e))
    if root.tag != SVG + "svg":
        if root.tag != "html":
            fail("%s: root element %s, expected svg or html" %
                 (picture, root.tag))
        svgs = root.findall(".//" + SVG + "svg")
        if len(svgs) != 1:
            fail("%s: %d <svg> elements in the page" % (picture, len(svgs)))
        root = svgs[0]
        start = data.index(b"<svg")
        end = data.index(b"</svg>") + len(b"</svg>")
        data = b'<?xml version="1.0" encoding="UTF-8"?>\n' + data[start:end]
    for attr in ("width", "height"):
        if not re.fullmatch(r"\d+", root.get(attr, "")):
            fail("%s: <svg> %s missing" % (picture, attr))
    drawn = set()
    addr = re.compile(r"^([0-9a-f_]+|2\^64)-([0-9a-f_]+) \(")
    for g in root.iter(SVG + "g"):
        if "r" not in g.get("class", "").split():
            continue
        title = g.find(SVG + "title")
        if title is None or not title.text:
            fail("%s: a range without a <title>" % picture)
        lines = title.text.split("\n")
        if lines[0].startswith("nothing mapped"):
            continue
        m = addr.match(lines[1]) if len(lines) > 1 else None
        if not m:
            fail("%s: unexpected range title %r" % (picture, title.text))
        drawn.add((int(m.group(1).replace("_", ""), 16),
                   int(m.group(2).replace("_", ""), 16), lines[0]))
    want = flat_ranges(flat)
    if want - drawn:
        fail("%s: %d flat ranges not drawn, e.g. %r" %
             (picture, len(want - drawn), sorted(want - drawn)[0]))
    if drawn - want:
        fail("%s: %d ranges drawn that no flat view has, e.g. %r" %
             (picture, len(drawn - want), sorted(drawn - want)[0]))
    with open(out_svg, "wb") as f:
        f.write(data)


main()
