#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""check-diff.py OLD_FLAT NEW_FLAT DIFF_JSON - check `guestmem diff --json`.

OLD_FLAT and NEW_FLAT are `guestmem mtree -f` of the two machines,
DIFF_JSON is `guestmem diff --json OLD NEW`. For every address space whose
name is unique in both files, the update pass (QEMU's
address_space_update_topology_pass) is computed again here from the text
and must give the same removed, added and changed ranges; spaces present in
one file only must be reported whole. The document must follow docs/diff.md
(version 1, one entry per space, "equal" true exactly when every space is).
Exits 1 with a message on the first problem.
"""
import json
import re
import sys

LINE = re.compile(r"^  ([0-9a-f]{16})-([0-9a-f]{16}) \(prio (-?\d+), "
                  r"([a-z/-]+)\): (.*?)(?: @([0-9a-f]{16}))?$")


def fail(msg):
    print("check-diff: " + msg, file=sys.stderr)
    sys.exit(1)


def spaces(path):
    """{name: [ranges]} for the spaces of a flat dump, and the names seen
    more than once."""
    out, dups, names = {}, set(), []
    with open(path, encoding="utf-8", errors="surrogateescape") as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("FlatView"):
                names = []
            elif line.startswith(' AS "'):
                name = line[5:line.rindex('", root: ')]
                if name in out:
                    dups.add(name)
                out[name] = []
                names.append(name)
            else:
                m = LINE.match(line)
                if m:
                    r = (int(m.group(1), 16), int(m.group(2), 16),
                         m.group(5), int(m.group(6) or "0", 16), m.group(4))
                    for n in names:
                        out[n].append(r)
    return out, dups


def update_pass(old, new):
    """(removed, added, changed) as the listeners would be told."""
    i = j = 0
    events = []
    while i < len(old) or j < len(new):
        a = old[i] if i < len(old) else None
        b = new[j] if j < len(new) else None
        if a and (not b or a[0] < b[0] or (a[0] == b[0] and a != b)):
            events.append(("del", a))
            i += 1
        elif a and b and a == b:
            i += 1
            j += 1
        else:
            if events and events[-1][0] == "del" and \
                    events[-1][1][0] == b[0] and events[-1][1][2] == b[2]:
                events[-1] = ("change", events[-1][1], b)
            else:
                events.append(("add", b))
            j += 1
    return ([e[1] for e in events if e[0] == "del"],
            [e[1] for e in events if e[0] == "add"],
            [(e[1], e[2]) for e in events if e[0] == "change"])


def key(r):
    return (int(r["start"], 16), int(r["end"], 16), r["region"],
            int(r["offset"], 16), r["type"])


def main():
    if len(sys.argv) != 4:
        fail("usage: check-diff.py OLD_FLAT NEW_FLAT DIFF_JSON")
    old, odup = spaces(sys.argv[1])
    new, ndup = spaces(sys.argv[2])
    with open(sys.argv[3], encoding="utf-8") as f:
        doc = json.load(f)
    if doc.get("version") != 1:
        fail("version %r, expected 1" % doc.get("version"))
    entries = doc["address_spaces"]
    seen = {}
    for e in entries:
        seen.setdefault(e["name"], []).append(e)
    checked = 0
    any_diff = False
    for name in sorted(set(old) | set(new)):
        got = seen.get(name)
        if not got:
            fail("space %r missing" % name)
        any_diff |= any(e["status"] != "equal" for e in got)
        if name in odup or name in ndup:
            continue
        e = got[0]
        o, n = old.get(name), new.get(name)
        want = update_pass(o or [], n or [])
        status = ("only_old" if n is None else "only_new" if o is None
                  else "changed" if any(want) else "equal")
        if e["status"] != status:
            fail("%s: status %s, expected %s" % (name, e["status"], status))
        have = ([key(r) for r in e["removed"]], [key(r) for r in e["added"]],
                [(key(c["old"]), key(c["new"])) for c in e["changed"]])
        if have != want:
            fail("%s: differences %r, expected %r" % (name, have, want))
        checked += 1
    if len(entries) != sum(len(v) for v in seen.values()):
        fail("entries lost")
    if doc["equal"] != (not any_diff):
        fail("\"equal\": %r with statuses %r" %
             (doc["equal"], [e["status"] for e in entries]))
    if not checked:
        fail("no space checked")


main()
