#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""strip-annotations.py DUMP > PLAIN

Undo guestmem's annotations of a QEMU `info mtree -D` dump, giving back
the text QEMU printed: `container` becomes `i/o`, `, order K` goes, and an
alias line takes again the type of its final target (QEMU prints an alias
with its target's type, so a read-only alias of RAM marked `rom` prints
`ram`). Targets are found as the importer finds them when the replay of
QEMU's discovery order is not needed: the first `memory-region:` section
of that name. Everything else, line ends included, is kept byte for byte.
"""
import re
import sys

LINE = re.compile(r'^(.*? \(prio -?\d+, )(nv-)?([a-z/]+)((?:, order \d+)?)'
                  r'(\): )(.*?)(\r?)$')
ALIAS = re.compile(r'^alias .* @(.*) [0-9a-f]+-[0-9a-f]+( \[disabled\])?$')


def main(argv):
    if len(argv) != 2:
        sys.stderr.write(__doc__)
        return 2
    with open(argv[1], newline='') as f:
        lines = f.read().split('\n')
    section_root = {}
    pending = None
    for i, line in enumerate(lines):
        text = line.rstrip('\r')
        if text.startswith('memory-region: '):
            pending = text[len('memory-region: '):]
        elif pending is not None and LINE.match(line):
            section_root.setdefault(pending, i)
            pending = None
        elif not text:
            pending = None

    def final_type(i, depth=0):
        m = LINE.match(lines[i])
        kind = 'i/o' if m.group(3) == 'container' else m.group(3)
        a = ALIAS.match(m.group(6))
        if a and depth < 64:
            target = a.group(1)
            # The alias body may be `NAME @TARGET` with `@` in NAME too.
            while target not in section_root and ' @' in target:
                target = target.split(' @', 1)[1]
            if target in section_root:
                return final_type(section_root[target], depth + 1)
        return kind

    out = []
    for i, line in enumerate(lines):
        m = LINE.match(line)
        if m:
            kind = final_type(i)
            line = (m.group(1) + (m.group(2) or '') + kind + m.group(5) +
                    m.group(6) + m.group(7))
        out.append(line)
    sys.stdout.write('\n'.join(out))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
