#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""dump-variant.py VARIANT DUMP > OTHER

Rewrite an `info mtree -D` dump (2-space indentation) the way another QEMU
version, or another option, would print the same machine:

  crlf      CRLF line ends (as the monitor prints them)
  lf        LF line ends
  ascii4    the proposed tree drawing: `|-- `, `` `-- ``, `|   ` (4 columns)
  ascii3    its later form: `|- `, `` `- ``, `|  ` (3 columns)
  utf8      the box-drawing form: `├── `, `└── `, `│   `
  owners    `info mtree -o`: an owner or `orphan` after every line
  rwflags   QEMU before type names: `(prio N, RW)` / `(prio N, R-)`
  ungrouped QEMU before groups: one `address-space:` header per tree
"""
import re
import sys

REGION = re.compile(r'^( +)([0-9a-f]+-[0-9a-f]+ \(prio -?\d+, )([^)]*)(\): .*)$')


def lines_of(path):
    with open(path, newline='') as f:
        return [l.rstrip('\r') for l in f.read().split('\n')]


def tree_drawing(lines, branch, last, column, blank):
    out = []
    for i, line in enumerate(lines):
        m = REGION.match(line)
        if not m:
            out.append(line)
            continue
        level = len(m.group(1)) // 2
        # Is each ancestor level (and this line) followed by a sibling?
        def continues(lv, start):
            for l2 in lines[start + 1:]:
                m2 = REGION.match(l2)
                if not m2:
                    return False
                lv2 = len(m2.group(1)) // 2
                if lv2 < lv:
                    return False
                if lv2 == lv:
                    return True
            return False
        prefix = ''
        anc = []
        j = i
        for lv in range(level - 1, 0, -1):
            # find the ancestor line at level lv
            while j >= 0:
                mj = REGION.match(lines[j])
                if mj and len(mj.group(1)) // 2 == lv:
                    break
                j -= 1
            anc.append(j)
        anc.reverse()
        for lv, j in zip(range(1, level), anc):
            prefix += column if continues(lv, j) else blank
        prefix += branch if continues(level, i) and level > 1 else last
        out.append(prefix + line[len(m.group(1)):])
    return out


def main(argv):
    if len(argv) != 3:
        sys.stderr.write(__doc__)
        return 2
    variant, path = argv[1], argv[2]
    lines = lines_of(path)
    end = '\n'
    if variant == 'crlf':
        end = '\r\n'
    elif variant == 'lf':
        pass
    elif variant == 'ascii4':
        lines = tree_drawing(lines, '|-- ', '`-- ', '|   ', '    ')
    elif variant == 'ascii3':
        lines = tree_drawing(lines, '|- ', '`- ', '|  ', '   ')
    elif variant == 'utf8':
        lines = tree_drawing(lines, '├── ', '└── ', '│   ', '    ')
    elif variant == 'owners':
        out = []
        for n, line in enumerate(lines):
            if REGION.match(line):
                line += ' orphan' if n % 3 == 0 else \
                    ' owner:{dev id=d%d} parent:{obj path=/machine/x}' % n
            out.append(line)
        lines = out
    elif variant == 'rwflags':
        out = []
        for line in lines:
            m = REGION.match(line)
            if m:
                flags = 'R-' if m.group(3).endswith(('rom', 'romd')) else 'RW'
                line = m.group(1) + m.group(2) + flags + m.group(4)
            out.append(line)
        lines = out
    elif variant == 'ungrouped':
        out, headers, body = [], [], []

        def flush():
            if headers and headers[0].startswith('address-space: '):
                for h in headers:
                    out.append(h)
                    out.extend(body)
                    out.append('')
            elif headers:
                out.extend(headers + body + [''])
        for line in lines:
            if line.startswith(('address-space: ', 'memory-region: ')):
                if body:
                    flush()
                    headers, body = [], []
                headers.append(line)
            elif line == '':
                if headers:
                    flush()
                headers, body = [], []
            else:
                body.append(line)
        flush()
        lines = out
    else:
        sys.stderr.write(__doc__)
        return 2
    sys.stdout.write(end.join(lines))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
