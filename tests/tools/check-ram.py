# SPDX-License-Identifier: MIT
"""check-ram.py NAME JSON TEXT EXPECT... - `guestmem ram`'s two outputs of
machines, four arguments per machine (one Python start for them all).

NAME names the machine in messages, JSON is the --json document, TEXT the table, EXPECT a Python literal: a list
of blocks in the order expected, each a dict of the members to check (hex
strings as integers; "flags" as a list; "path" as a string), or a dict
{"mtree": PATH}: the blocks must be the RAM-backed regions (ram, rom,
rom-device, ram-device) of PATH, the `guestmem mtree --json -D` document
of the same machine, with the same names and sizes. Checks the document
field by field against docs/ram.md (every member present with its type,
hex strings, offsets ascending and disjoint, dirty counts within the used
pages) and that the table says the same, aligned under its header. Prints
`NAME: what differs` for each difference; exit status 1 then.
"""
import json
import sys

FLAGS = ["shared", "hugepages", "noreserve", "prealloc", "resizeable",
         "merge", "nodump", "nofork"]
CLIENTS = ["vga", "code", "migration", "snapshot"]
errors = []


def err(msg):
    errors.append(msg)


def escaped(name):
    """A valid UTF-8 name as the table writes it."""
    return "".join("".join("\\x%02x" % c for c in ch.encode())
                   if ord(ch) < 0x20 or 0x7f <= ord(ch) <= 0x9f or ch == "\\"
                   else ch for ch in name)


def hexnum(b, key):
    v = b.get(key)
    if not isinstance(v, str) or not v.startswith("0x") or v != v.lower():
        err("%s: %s is not a 0x hex string: %r" % (b.get("name"), key, v))
        return None
    return int(v, 16)


def check(json_path, text_path, expect_src):
    with open(json_path, "rb") as f:
        raw = f.read()
    doc = json.loads(raw.decode("utf-8"))
    with open(text_path, "rb") as f:
        text = f.read().decode("utf-8").splitlines()
    # Sizes may be written as shifts (1 << 30): a Python expression.
    expect = eval(expect_src, {"__builtins__": {}})

    if doc.get("format") != "guestmem-ram" or doc.get("version") != 1:
        err("format/version: %r %r" % (doc.get("format"), doc.get("version")))
    if not str(doc.get("generator", "")).startswith("guestmem "):
        err("generator: %r" % doc.get("generator"))
    blocks = doc.get("ram_blocks")
    if not isinstance(blocks, list):
        err("ram_blocks is not an array")
        return
    end = 0
    for b in blocks:
        name = b.get("name")
        if not isinstance(name, str):
            err("a block without a name: %r" % b)
        off, used, mx = (hexnum(b, k) for k in
                         ("offset", "used_length", "max_length"))
        if None in (off, used, mx):
            continue
        if off < end:
            err("%s: offset 0x%x overlaps the previous block (end 0x%x)" %
                (name, off, end))
        if off % (256 << 10):
            err("%s: offset 0x%x not 256 KiB aligned" % (name, off))
        if mx < used or used <= 0:
            err("%s: max_length 0x%x below used_length 0x%x" %
                (name, mx, used))
        end = off + mx
        ps = b.get("page_size")
        if not isinstance(ps, int) or ps < 4096 or ps & (ps - 1):
            err("%s: page_size %r" % (name, ps))
        if b.get("backing") not in ("anon", "memfd", "file", "ptr", "none"):
            err("%s: backing %r" % (name, b.get("backing")))
        if ("path" in b) != (b.get("backing") == "file"):
            err("%s: path %r with backing %r" % (name, b.get("path"),
                                                 b.get("backing")))
        fl = b.get("flags")
        if (not isinstance(fl, list) or any(f not in FLAGS for f in fl) or
                fl != sorted(fl, key=FLAGS.index)):
            err("%s: flags %r" % (name, fl))
        elif mx > used and "resizeable" not in fl:
            err("%s: max_length above used_length but not resizeable" % name)
        d = b.get("dirty")
        pages = (used + 4095) // 4096
        if not isinstance(d, dict) or sorted(d) != sorted(CLIENTS):
            err("%s: dirty %r" % (name, d))
        else:
            for c in CLIENTS:
                if not isinstance(d[c], int) or not 0 <= d[c] <= pages:
                    err("%s: dirty %s %r of %d pages" % (name, c, d[c], pages))

    if isinstance(expect, dict):
        with open(expect["mtree"], "rb") as f:
            tree = json.loads(f.read().decode("utf-8"))
        want = sorted((r["name"], int(r["size"], 16))
                      for r in tree["regions"]
                      if r["kind"] in ("ram", "rom", "rom-device",
                                       "ram-device"))
        got = sorted((b.get("name"), int(b.get("used_length", "0x0"), 16))
                     for b in blocks)
        if got != want:
            err("blocks %r, the dump's RAM-backed regions %r" % (got, want))
    else:
        if len(blocks) != len(expect):
            err("%d blocks, expected %d: %r" %
                (len(blocks), len(expect), [b.get("name") for b in blocks]))
        for b, e in zip(blocks, expect):
            for k, want in e.items():
                got = b.get(k)
                if k in ("offset", "used_length", "max_length"):
                    got = int(got, 16) if isinstance(got, str) else got
                if got != want:
                    err("%s: %s is %r, expected %r" % (b.get("name"), k, got,
                                                       want))

    # The table: the same blocks, aligned under the header.
    head = text[0].split() if text else []
    want_head = ["OFFSET", "USED", "MAX", "PAGE", "VGA", "CODE", "MIGRATION",
                 "SNAPSHOT", "BACKING", "NAME"]
    if head != want_head:
        err("table header %r" % (text[:1],))
        return
    if len(text) != len(blocks) + 1:
        err("%d table lines for %d blocks" % (len(text) - 1, len(blocks)))
        return
    name_col = text[0].index("NAME")
    backing_col = text[0].index("BACKING")
    right = [text[0].index(h) + len(h) for h in want_head[:8]]
    for line, b in zip(text[1:], blocks):
        cells = line[:backing_col].split()
        nums = [b["offset"], b["used_length"], b["max_length"],
                str(b["page_size"])] + [str(b["dirty"][c]) for c in CLIENTS]
        if cells != nums:
            err("table line %r, expected %r" % (line, nums))
        for h, r in zip(cells, right):
            if line[r - len(h):r] != h:
                err("table line %r: %s not aligned under its header" %
                    (line, h))
        bk = line[backing_col:name_col].rstrip()
        want_bk = b["backing"]
        if b["backing"] == "file":
            want_bk += "=" + (b.get("path") or "?").replace(" ", "\\x20")
        want_bk = ",".join([want_bk] + b["flags"])
        if bk != want_bk or line[name_col - 2:name_col] != "  ":
            err("table backing %r, expected %r" % (bk, want_bk))
        if "name_hex" not in b and line[name_col:] != escaped(b["name"]):
            err("table name %r, expected %r" % (line[name_col:], b["name"]))


status = 0
args = sys.argv[1:]
for i in range(0, len(args) - 3, 4):
    errors.clear()
    try:
        check(*args[i + 1:i + 4])
    except Exception as e:  # a document that does not parse, say
        err("%s: %s" % (type(e).__name__, e))
    for e in errors:
        print("%s: %s" % (args[i], e))
    status |= 1 if errors else 0
sys.exit(status)
