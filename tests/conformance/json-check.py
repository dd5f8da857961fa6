#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""json-check.py GUESTMEM [CORPUS] - `guestmem mtree --json` against
docs/json.md.

For every input, the four documents (`--json`, `--json -D`, `--json -f`,
`--json -f -D`) must be valid UTF-8 JSON that Python's json module parses,
follow schema version 1 member by member (no member the document does not
describe, every reference to a listed region), and agree with each other
and with the text:

  - the tree view lists each region once; `parent` and `subregions` agree;
    `start` is the parent's start plus `addr`; without -D no disabled
    region is listed but roots and alias targets, and the regions listed
    are those of the -D document (same ids, same members);
  - the flat views are those of `mtree -f` line for line (spaces, root,
    ranges with their type, priority, name bytes and offset); `-f -D` is
    byte for byte `-f`; ranges name their region by the tree's ids;
  - every name is the input's bytes: its `name`, or `name_hex` exactly when
    the bytes are not valid UTF-8.

The inputs are the QEMU corpus (CORPUS/qemu/*/mtree_annotated.txt, skipped
when absent), the built-in board, and generated dumps whose region and
space names hold every kind of byte (invalid UTF-8, C0 and C1 controls,
DEL, quotes, backslashes, valid multi-byte UTF-8). Prints `ok NAME` /
`not ok NAME` and ends with `N passed, N failed`.
"""
import json
import os
import random
import re
import subprocess
import sys
import tempfile

HEX = re.compile(r"^0x(0|[1-9a-f][0-9a-f]*)$")
KINDS = {"container", "ram", "rom", "io", "alias", "rom-device", "ram-device"}
QTYPES = {"ram", "rom", "romd", "ramd", "i/o"}
CLIENTS = ["vga", "code", "migration"]
M64 = (1 << 64) - 1

REGION_KEYS = {"id", "name", "name_hex", "kind", "qemu_type", "parent",
               "start", "end", "addr", "size", "priority", "enabled",
               "readonly", "nonvolatile", "dirty_log", "romd", "alias",
               "subregions"}
RANGE_KEYS = {"start", "end", "size", "region", "name", "name_hex",
              "qemu_type", "priority", "offset", "readonly", "nonvolatile",
              "dirty_log", "romd"}


class Bad(Exception):
    pass


def need(cond, what):
    if not cond:
        raise Bad(what)


def hexnum(v, what, size=False):
    need(isinstance(v, str) and HEX.match(v), "%s: not a hex string: %r"
         % (what, v))
    n = int(v, 16)
    need(n <= (1 << 64 if size else M64), "%s: out of range: %s" % (what, v))
    return n


def name_bytes(obj, key, what):
    """The bytes a name stands for; checks the _hex rule."""
    s = obj[key]
    need(isinstance(s, str), "%s: %s is not a string" % (what, key))
    hexkey = key + "_hex"
    if hexkey in obj:
        raw = bytes.fromhex(obj[hexkey])
        need(obj[hexkey] == raw.hex(), "%s: %s not lowercase" % (what, hexkey))
        try:
            raw.decode("utf-8")
            raise Bad("%s: %s given for valid UTF-8 %r" % (what, hexkey, raw))
        except UnicodeDecodeError:
            pass
        need("\ufffd" in s, "%s: invalid UTF-8 without U+FFFD" % what)
        return raw
    return s.encode("utf-8")  # strict: no lone surrogates


def check_common(doc, view, what):
    need(isinstance(doc, dict), what + ": not an object")
    need(doc.get("format") == "guestmem-mtree", what + ": format")
    need(doc.get("version") == 1, what + ": version")
    need(isinstance(doc.get("generator"), str) and
         doc["generator"].startswith("guestmem "), what + ": generator")
    need(doc.get("view") == view, what + ": view %r" % doc.get("view"))


def check_dirty(v, what):
    need(isinstance(v, list) and all(c in CLIENTS for c in v) and
         v == sorted(v, key=CLIENTS.index) and len(set(v)) == len(v),
         what + ": dirty_log %r" % (v,))


def check_tree(doc, disabled, what):
    check_common(doc, "tree", what)
    need(set(doc) == {"format", "version", "generator", "view", "disabled",
                      "address_spaces", "regions"},
         what + ": top-level members %s" % sorted(doc))
    need(doc["disabled"] is disabled, what + ": disabled")
    regs = doc["regions"]
    need(isinstance(regs, list), what + ": regions")
    by_id = {}
    for r in regs:
        w = "%s: region %r" % (what, r.get("id"))
        need(isinstance(r, dict) and set(r) <= REGION_KEYS,
             w + ": members %s" % sorted(set(r) - REGION_KEYS))
        need(isinstance(r["id"], int) and r["id"] >= 0, w + ": id")
        need(r["id"] not in by_id, w + ": listed twice")
        by_id[r["id"]] = r
        r["_name"] = name_bytes(r, "name", w)
        need(r["kind"] in KINDS and r["qemu_type"] in QTYPES, w + ": kind")
        for k in ("start", "end", "addr"):
            hexnum(r[k], w + ": " + k)
        size = hexnum(r["size"], w + ": size", size=True)
        start, end = int(r["start"], 16), int(r["end"], 16)
        need(end == ((start + size - 1) & M64 if size else start), w + ": end")
        need(isinstance(r["priority"], int), w + ": priority")
        for k in ("enabled", "readonly", "nonvolatile"):
            need(isinstance(r[k], bool), w + ": " + k)
        check_dirty(r["dirty_log"], w)
        need(("romd" in r) == (r["kind"] == "rom-device"), w + ": romd")
        need(("alias" in r) == (r["kind"] == "alias"), w + ": alias")
        need(("subregions" in r) != (r["kind"] == "alias"), w + ": subregions")
    ids = [r["id"] for r in regs]
    need(ids == sorted(ids), what + ": regions not by id")
    refs = set()
    for sp in doc["address_spaces"]:
        w = what + ": address space"
        need(set(sp) <= {"name", "name_hex", "root"}, w + ": members")
        name_bytes(sp, "name", w)
        need(sp["root"] in by_id, w + ": root %r not listed" % sp["root"])
        refs.add(sp["root"])
    for r in regs:
        w = "%s: region %d" % (what, r["id"])
        p = r["parent"]
        if p is None:
            need(int(r["start"], 16) == int(r["addr"], 16), w + ": top start")
        else:
            need(p in by_id and r["id"] in by_id[p].get("subregions", []),
                 w + ": parent %r does not list it" % p)
            need(int(r["start"], 16) ==
                 (int(by_id[p]["start"], 16) + int(r["addr"], 16)) & M64,
                 w + ": start")
        for k in r.get("subregions", []):
            need(k in by_id and by_id[k]["parent"] == r["id"],
                 w + ": subregion %r" % k)
        if "alias" in r:
            a = r["alias"]
            need(set(a) == {"target", "offset"}, w + ": alias members")
            hexnum(a["offset"], w + ": alias offset")
            need(a["target"] is None or a["target"] in by_id,
                 w + ": alias target %r not listed" % a["target"])
            refs.add(a["target"])
    if not disabled:
        for r in regs:
            need(r["enabled"] or r["id"] in refs,
                 "%s: disabled region %d listed" % (what, r["id"]))
            if not r["enabled"]:
                need(not r.get("subregions"),
                     "%s: below disabled %d" % (what, r["id"]))
    return by_id


def check_flat(doc, tree_all, what):
    check_common(doc, "flat", what)
    need(set(doc) == {"format", "version", "generator", "view",
                      "address_spaces", "flat_views"},
         what + ": top-level members %s" % sorted(doc))
    fvs = doc["flat_views"]
    for i, sp in enumerate(doc["address_spaces"]):
        w = "%s: address space %d" % (what, i)
        need(set(sp) <= {"name", "name_hex", "root", "flat_view"},
             w + ": members")
        name_bytes(sp, "name", w)
        need(sp["root"] in tree_all, w + ": root")
        need(0 <= sp["flat_view"] < len(fvs), w + ": flat_view")
    for i, fv in enumerate(fvs):
        w = "%s: flat view %d" % (what, i)
        need(set(fv) == {"index", "address_spaces", "root", "ranges"},
             w + ": members")
        need(fv["index"] == i, w + ": index")
        need(fv["root"] is None or fv["root"] in tree_all, w + ": root")
        names = [sp["name"] for sp in doc["address_spaces"]
                 if sp["flat_view"] == i]
        need(fv["address_spaces"] == names, w + ": address_spaces")
        last = -1
        for rg in fv["ranges"]:
            need(set(rg) <= RANGE_KEYS, w + ": range members")
            start = hexnum(rg["start"], w + ": start")
            end = hexnum(rg["end"], w + ": end")
            size = hexnum(rg["size"], w + ": size", size=True)
            hexnum(rg["offset"], w + ": offset")
            need(start > last and end >= start and
                 end - start + 1 == size, w + ": range %s" % rg["start"])
            last = end
            reg = tree_all.get(rg["region"])
            need(reg is not None and reg["kind"] not in ("container", "alias"),
                 w + ": region %r" % rg["region"])
            need(name_bytes(rg, "name", w) == reg["_name"], w + ": name")
            need(("romd" in rg) == (reg["kind"] == "rom-device"), w + ": romd")
            need(rg["qemu_type"] in QTYPES and
                 isinstance(rg["priority"], int), w + ": type")
            for k in ("readonly", "nonvolatile"):
                need(isinstance(rg[k], bool), w + ": " + k)
            check_dirty(rg["dirty_log"], w)


RANGE_LINE = re.compile(rb"^  ([0-9a-f]{16})-([0-9a-f]{16}) \(prio (-?\d+), "
                        rb"(nv-)?([a-z/]+)\): (.*?)(?: @([0-9a-f]{16}))?$")


def text_flat(text):
    """`mtree -f` as [(space names, root name, [ranges])]."""
    views = []
    for line in text.split(b"\n"):
        if line.startswith(b"FlatView #"):
            views.append(([], None, []))
        elif line.startswith(b" AS \""):
            views[-1][0].append(line[5:line.rindex(b"\", root: ")])
        elif line.startswith(b" Root memory region: "):
            views[-1] = (views[-1][0], line[21:], views[-1][2])
        elif line.startswith(b"  ") and not line.startswith(b"  No rendered"):
            m = RANGE_LINE.match(line)
            need(m, "text line %r" % line)
            s, e, prio, nv, typ, name, off = m.groups()
            views[-1][2].append((int(s, 16), int(e, 16), int(prio),
                                 bool(nv), typ.decode(), name,
                                 int(off, 16) if off else 0))
    return views


def compare_flat(doc, text, tree_all, what):
    views = text_flat(text)
    need(len(views) == len(doc["flat_views"]),
         "%s: %d flat views, text %d" % (what, len(doc["flat_views"]),
                                         len(views)))
    spaces = doc["address_spaces"]
    for i, (fv, (tnames, troot, tranges)) in enumerate(
            zip(doc["flat_views"], views)):
        w = "%s: flat view %d" % (what, i)
        names = [name_bytes(sp, "name", w) for sp in spaces
                 if sp["flat_view"] == i]
        need(names == tnames, w + ": spaces %r, text %r" % (names, tnames))
        root = tree_all[fv["root"]]["_name"] if fv["root"] is not None \
            else b"(none)"
        need(root == troot, w + ": root %r, text %r" % (root, troot))
        got = [(int(r["start"], 16), int(r["end"], 16), r["priority"],
                r["nonvolatile"], r["qemu_type"], name_bytes(r, "name", w),
                int(r["offset"], 16)) for r in fv["ranges"]]
        need(got == tranges, w + ": ranges differ from the text")


def run(exe, *args):
    p = subprocess.run([exe, "mtree", *args], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    if p.returncode != 0:
        raise Bad("mtree %s: status %d: %s" % (" ".join(args), p.returncode,
                                               p.stderr.decode(errors="replace")
                                               .strip()[:300]))
    if re.search(rb"Sanitizer|runtime error", p.stderr):
        raise Bad("sanitizer report: " + p.stderr.decode(errors="replace"))
    return p.stdout


def load(raw, what):
    try:
        return json.loads(raw.decode("utf-8"))  # strict UTF-8
    except (UnicodeDecodeError, ValueError) as e:
        raise Bad("%s: not valid JSON: %s" % (what, e))


# What check_input() runs for one input: the four documents and the text.
MODES = [("--json",), ("-D", "--json"), ("--json", "-f"), ("--json", "-fD"),
         ("-f",), ("-D",)]


def check_input(exe, src):
    """All four documents of one input (a path, or ["--builtin"])."""
    args = src if isinstance(src, list) else [src]
    out = {m: run(exe, *m, *args) for m in MODES}
    tree = load(out[("--json",)], "--json")
    tree_d = load(out[("-D", "--json")], "--json -D")
    flat_raw = out[("--json", "-f")]
    flat = load(flat_raw, "--json -f")
    need(out[("--json", "-fD")] == flat_raw,
         "--json -fD differs from --json -f")
    all_ids = check_tree(tree_d, True, "--json -D")
    some = check_tree(tree, False, "--json")
    for i, r in some.items():
        need(i in all_ids, "--json: region %d not in --json -D" % i)
        a = dict(all_ids[i])
        b = dict(r)
        for k in ("parent", "start", "end", "subregions"):
            a.pop(k, None)
            b.pop(k, None)
        need(a == b, "--json: region %d differs from --json -D" % i)
    need([sp["root"] for sp in tree["address_spaces"]] ==
         [sp["root"] for sp in tree_d["address_spaces"]], "roots differ")
    check_flat(flat, all_ids, "--json -f")
    need([sp["root"] for sp in flat["address_spaces"]] ==
         [sp["root"] for sp in tree_d["address_spaces"]],
         "--json -f: roots differ from the tree")
    compare_flat(flat, out[("-f",)], all_ids, "--json -f")
    # Every region of the text tree (with -D) is in the table, by name.
    text_names = set()
    for line in out[("-D",)].split(b"\n"):
        m = re.match(rb"^ +[0-9a-f]{16}-[0-9a-f]{16} \(prio -?\d+, "
                     rb"[a-z/-]+\): "
                     rb"(?:alias (.*?) @.*|(.*?)(?: \[disabled\])?)$", line)
        if m:
            text_names.add(m.group(1) if m.group(1) is not None
                           else m.group(2))
    json_names = {r["_name"] for r in all_ids.values()}
    need(text_names == json_names, "text and JSON name different regions: "
         "%r" % sorted(text_names ^ json_names)[:5])
    return all_ids


# Bytes a generated name is made of (no blank, '@', '[' or line break: the
# text format cuts names at those in some places).
PIECES = ([bytes([c]) for c in range(0x21, 0x7f) if c not in b"@["] +
          [bytes([c]) for c in list(range(1, 9)) + [0x0b, 0x0c] +
           list(range(0x0e, 0x20)) + [0x7f]] +
          [bytes([c]) for c in range(0x80, 0x100)] +
          [b"\xc2\x85", b"\xc2\x9f", b"\xc2\xa0", b"\xc3\xa9", b"\xe2\x82\xac",
           b"\xf0\x9f\x98\x80", b"\xf4\x8f\xbf\xbf", b"\xed\xa0\x80",
           b"\xc0\xaf", b"\xe0\x80\x80", b"\xf4\x90\x80\x80", b"\xe2\x82",
           b"\"", b"\\", b"\\u0000"])


def gen_name(rng, used):
    while True:
        n = b"".join(rng.choice(PIECES) for _ in range(rng.randint(1, 12)))
        if n not in used and not n.startswith(b"-"):
            used.add(n)
            return n


def gen_dump(seed):
    """An annotated dump with strange names; returns (text, names)."""
    rng = random.Random(seed)
    used = set()
    lines = []
    names = []
    root = gen_name(rng, used)
    ram = gen_name(rng, used)
    names += [root, ram]
    spaces = [gen_name(rng, used) for _ in range(2)]
    for sp in spaces:
        lines.append(b"address-space: " + sp)
    lines.append(b"  0000000000000000-ffffffffffffffff (prio 0, container): " +
                 root)
    addr = 0
    for i in range(rng.randint(3, 12)):
        n = gen_name(rng, used)
        names.append(n)
        size = rng.choice([0x1000, 0x10000, 0x100])
        kind = "alias" if i == 0 else rng.choice(["ram", "i/o", "rom",
                                                   "alias", "container"])
        dis = b" [disabled]" if rng.random() < 0.2 else b""
        head = b"    %016x-%016x (prio %d, " % (addr, addr + size - 1,
                                                rng.randint(-2, 2))
        if kind == "alias":
            lines.append(head + b"ram): alias " + n + b" @" + ram +
                         b" %016x-%016x" % (0, size - 1) + dis)
        elif kind == "container":
            lines.append(head + b"container): " + n + dis)
            c = gen_name(rng, used)
            names.append(c)
            lines.append(b"      %016x-%016x (prio 0, ram): "
                         % (addr, addr + 0xff) + c)
        else:
            lines.append(head + kind.encode() + b"): " + n + dis)
        addr += size
    lines.append(b"")
    lines.append(b"memory-region: " + ram)
    lines.append(b"  0000000000000000-00000000000fffff (prio 0, ram): " + ram)
    lines.append(b"")
    return b"\n".join(lines) + b"\n", names, spaces


def main():
    if len(sys.argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        return 2
    exe = sys.argv[1]
    here = os.path.dirname(os.path.abspath(__file__))
    corpus = sys.argv[2] if len(sys.argv) == 3 else \
        os.path.join(here, "..", "..", "..", "shared", "conformance")
    passed = failed = 0

    def result(name, fn):
        nonlocal passed, failed
        try:
            fn()
            print("ok " + name)
            passed += 1
        except Bad as e:
            print("not ok %s\n# %s" % (name, str(e)[:2000]))
            failed += 1

    result("builtin", lambda: check_input(exe, ["--builtin"]))
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(12):
            text, names, spaces = gen_dump(seed)
            path = os.path.join(tmp, "gen-%d.txt" % seed)
            with open(path, "wb") as f:
                f.write(text)

            def gen_case(path=path, names=names, spaces=spaces):
                ids = check_input(exe, path)
                got = {r["_name"] for r in ids.values()}
                need(got == set(names), "names: %r" %
                     sorted(got ^ set(names))[:5])
                doc = load(run(exe, "--json", path), "--json")
                got = [name_bytes(sp, "name", "space")
                       for sp in doc["address_spaces"]]
                need(got == spaces, "space names %r" % got)
            result("generated-%d" % seed, gen_case)
    qemu = os.path.join(corpus, "qemu")
    if os.path.isdir(qemu):
        for case in sorted(os.listdir(qemu)):
            path = os.path.join(qemu, case, "mtree_annotated.txt")
            if os.path.exists(path):
                result("qemu-" + case, lambda path=path: check_input(exe, path))
    else:
        print("# conformance corpus not found at %s: its dumps skipped"
              % corpus)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
