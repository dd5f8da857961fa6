#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""uninstalled-pc.py NAME - make meson's NAME-uninstalled.pc expose only
the public headers.

For a library target, meson writes
BUILD/meson-uninstalled/NAME-uninstalled.pc with `-I` flags for the
folder that defines the target (src/, in the build and in the source
tree), so that a program built against the uninstalled library could
include the library's internal headers, and with `includedir` and
`libdir` variables under the build directory, where nothing is. Run by
meson after each configuration (meson.add_postconf_script), this sets
includedir to ${srcdir}/include, the one folder users are meant to see,
libdir to the folder of `Libs:`'s -L (where the library is built), and
makes `Cflags:` -I${includedir} plus the flags that are not -I. Meson
passes the build directory in MESON_BUILD_ROOT.
"""
import os
import sys


def main():
    if len(sys.argv) != 2 or "MESON_BUILD_ROOT" not in os.environ:
        print(__doc__, file=sys.stderr)
        return 2
    path = os.path.join(os.environ["MESON_BUILD_ROOT"], "meson-uninstalled",
                        sys.argv[1] + "-uninstalled.pc")
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    libdir = None
    for line in lines:
        if line.startswith("Libs:"):
            libdir = next((w[2:] for w in line.split()[1:]
                           if w.startswith("-L")), None)
    if libdir == "${libdir}":
        libdir = None  # already done
    out = []
    for line in lines:
        if line.startswith("includedir="):
            continue  # defined again below, after srcdir
        if line.startswith("srcdir="):
            out += [line, "includedir=${srcdir}/include"]
            continue
        if line.startswith("libdir=") and libdir:
            line = "libdir=" + libdir
        elif line.startswith("Libs:") and libdir:
            line = line.replace("-L" + libdir, "-L${libdir}", 1)
        elif line.startswith("Cflags:"):
            flags = [w for w in line.split()[1:] if not w.startswith("-I")]
            line = " ".join(["Cflags:", "-I${includedir}"] + flags)
        out.append(line)
    if not any(line.startswith("Cflags:") for line in out):
        out.insert(len(out) - 1, "Cflags: -I${includedir}")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
