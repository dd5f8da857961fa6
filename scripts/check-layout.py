#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""check-layout.py - prove from the sources and the built objects that
src/ keeps its shape.

Usage: check-layout.py SRC_DIR LIB_DIR

SRC_DIR is src/, whose meson.build lists the modules bottom up (gm_layers);
LIB_DIR holds their static libraries (libgm-NAME.a). Checks:
  - calls go one way: module A depends on module B when an object of A has
    an undefined symbol that an object of B defines (nm); that graph has no
    cycle, and no module depends on one listed after it;
  - each module folder has at most one header, named after it;
  - no source file is over 800 lines;
  - every internal function (gm__*) a header declares is defined, and every
    one defined is used by another file (else it should be static).
Prints the module graph and a final line "N passed, N failed".
"""
import os
import re
import subprocess
import sys


def nm(path, *flags):
    out = subprocess.run(["nm", "-g", *flags, path], check=True,
                         capture_output=True, text=True).stdout
    syms = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 2 and not line.endswith(":"):
            syms.add(parts[-1])
    return syms


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    src = sys.argv[1]
    text = open(os.path.join(src, "meson.build")).read()
    order = re.findall(r"\[\s*'([a-z]+)'\s*,\s*files\(", text)
    if not order:
        print("check-layout: no gm_layers list in %s/meson.build" % src)
        return 2
    defined, undefined = {}, {}
    for mod in order:
        lib = os.path.join(sys.argv[2], "libgm-%s.a" % mod)
        if not os.path.exists(lib):
            print("check-layout: %s is missing (build first)" % lib)
            return 2
        defined[mod] = nm(lib, "--defined-only")
        undefined[mod] = nm(lib, "--undefined-only") - defined[mod]
    owner = {}
    for mod in order:
        for s in defined[mod]:
            owner.setdefault(s, mod)
    deps = {m: {} for m in order}
    for mod in order:
        for s in sorted(undefined[mod]):
            o = owner.get(s)
            if o and o != mod:
                deps[mod].setdefault(o, []).append(s)

    rank = {m: i for i, m in enumerate(order)}
    passed = failed = 0
    print("module dependencies (from nm), top of the stack first:")
    for mod in reversed(order):
        below = sorted(deps[mod], key=lambda m: -rank[m])
        print("  %-9s -> %s" % (mod, ", ".join(below) if below else "-"))
        up = [d for d in below if rank[d] > rank[mod]]
        if up:
            failed += 1
            for d in up:
                print("FAIL %s calls up into %s: %s" %
                      (mod, d, ", ".join(deps[mod][d][:8])))
        else:
            passed += 1

    # A cycle check that does not rely on the declared order.
    state = {}

    def visit(m, path):
        state[m] = 1
        for d in deps[m]:
            if state.get(d) == 1:
                cyc = path[path.index(d):] + [d]
                print("FAIL cycle: " + " -> ".join(cyc))
                return False
            if not state.get(d) and not visit(d, path + [d]):
                return False
        state[m] = 2
        return True

    acyclic = all(state.get(m) or visit(m, [m]) for m in order)
    if acyclic:
        print("no cycle among %d modules" % len(order))
        passed += 1
    else:
        failed += 1

    ok, bad = check_sources(src, order)
    passed += ok
    failed += bad
    ok, bad = check_symbols(src, order, sys.argv[2])
    passed += ok
    failed += bad
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


MAX_LINES = 800


def check_sources(src, order):
    """One header per module, named after it; no file over MAX_LINES."""
    passed = failed = 0
    for mod in order:
        d = os.path.join(src, mod)
        headers = sorted(f for f in os.listdir(d) if f.endswith(".h"))
        if headers and headers != [mod + ".h"]:
            print("FAIL %s/ has headers %s (one, %s.h, expected)" %
                  (mod, ", ".join(headers), mod))
            failed += 1
        else:
            passed += 1
    long_files = []
    for mod in order:
        d = os.path.join(src, mod)
        for f in sorted(os.listdir(d)):
            if f.endswith((".c", ".h")):
                n = sum(1 for _ in open(os.path.join(d, f)))
                if n > MAX_LINES:
                    long_files.append("%s/%s (%d lines)" % (mod, f, n))
    if long_files:
        print("FAIL over %d lines: %s" % (MAX_LINES, ", ".join(long_files)))
        failed += 1
    else:
        print("no source file over %d lines" % MAX_LINES)
        passed += 1
    return passed, failed


def check_symbols(src, order, libdir):
    """Internal functions: declared ones defined, defined ones shared."""
    defs, uses = {}, {}
    for mod in order:
        lib = os.path.join(libdir, "libgm-%s.a" % mod)
        out = subprocess.run(["nm", "-A", "-g", lib], check=True,
                             capture_output=True, text=True).stdout
        for line in out.splitlines():
            m = re.match(r"[^:]+:([^:]+):\s*(?:[0-9a-f]+)?\s+(\w)\s+(\S+)$",
                         line)
            if not m:
                continue
            obj, kind, sym = m.groups()
            if kind == "U":
                uses.setdefault(sym, set()).add(obj)
            else:
                defs[sym] = obj
    passed = failed = 0
    lonely = sorted(s for s, o in defs.items()
                    if s.startswith("gm__") and not (uses.get(s, set()) - {o}))
    if lonely:
        print("FAIL used only in their own file (make them static): " +
              ", ".join(lonely))
        failed += 1
    else:
        passed += 1
    declared = set()
    for mod in order:
        h = os.path.join(src, mod, mod + ".h")
        if not os.path.exists(h):
            continue
        text = open(h).read()
        text = re.sub(r"static inline[^{;]*\{", "", text)
        for m in re.finditer(r"^[a-z][^;#{}]*?\b(gm__\w+)\s*\(", text,
                             re.M):
            line_start = text.rfind("\n", 0, m.start()) + 1
            if not text[line_start:m.start()].startswith("static"):
                declared.add(m.group(1))
    missing = sorted(d for d in declared if d not in defs)
    if missing:
        print("FAIL declared but never defined: " + ", ".join(missing))
        failed += 1
    else:
        print("%d internal functions declared, all defined and shared"
              % len(declared))
        passed += 1
    return passed, failed


if __name__ == "__main__":
    sys.exit(main())
