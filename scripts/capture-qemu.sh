#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# scripts/capture-qemu.sh - capture plain `info mtree -D` and `info mtree -f`
# dumps from the installed qemu-system-* binaries (Debian 12: QEMU 7.2, packages
# qemu-system-x86, -arm, -misc, -ppc, -mips and -sparc; python3 for the checks).
#
#   bash scripts/capture-qemu.sh [CASE...]     capture the listed cases (all by default)
#   bash scripts/capture-qemu.sh --list        print the case names
#   bash scripts/capture-qemu.sh --table       print the README's Markdown table
#   bash scripts/capture-qemu.sh --check [CASE...]
#                                              only re-check the stored captures
#
# Each case starts QEMU paused (-S), with no guest and no display, with the human
# monitor on standard input/output, and types three monitor commands into it:
#
#   info mtree -D
#   info mtree -f
#   quit
#
# The monitor's output is split at its prompt lines and stored, byte for byte,
# under tests/conformance/qemu-local/CASE/:
#
#   cmdline.txt  the QEMU command line (run in a scratch folder, see below)
#   mtree.txt    what `info mtree -D` printed
#   flat.txt     what `info mtree -f` printed
#
# Only the monitor's banner line and its prompt lines ("(qemu) " followed by the
# monitor's echo of the typed command, with its terminal escape sequences) are
# removed; nothing else is changed. QEMU's monitor ends every line with CRLF.
#
# The command runs in a scratch folder holding the stand-in files that some boards
# insist on (as -bios, -kernel or a pflash drive) although a paused machine runs
# nothing from them: zero-filled blank-SIZE.bin (SIZE like 64K or 4M), and
# tiny-ppc32.elf, a 4-byte PowerPC ELF executable for the e500 boards, which
# accept only an ELF or U-Boot image. The script makes them; nothing is
# downloaded. Other firmware comes from Debian's packages (seabios, ipxe-qemu,
# qemu-system-data with OpenBIOS, SLOF, skiboot, OpenSBI, palcode, ...). Drives
# are null-co block devices, and sound goes to a "none" audiodev.
#
# QEMU runs under `setarch -R` (no address-space randomisation), which keeps its
# hash-ordered groups in the same order from run to run most of the time; when a
# new capture differs from the stored one only in that order, the stored one is
# kept, so that a re-run changes no file unless QEMU's output really changed.
#
# Every capture is checked: the monitor transcript has the expected shape, both
# dumps parse (address-space:/memory-region: sections of region lines; FlatView
# blocks of sorted, non-overlapping ranges), every alias target has its
# memory-region: section, and both dumps name the same address spaces. A case
# whose QEMU fails or whose capture fails a check is reported, its old capture is
# left as it was, and the exit status is 1.
#
# Environment: OUT (default tests/conformance/qemu-local), TIMEOUT (seconds per
# QEMU run, default 60), KEEP_SCRATCH=1 keeps the scratch folder.
set -uo pipefail

cd "$(dirname "$0")/.." || exit 1

OUT=${OUT:-tests/conformance/qemu-local}
TIMEOUT=${TIMEOUT:-60}
COMMON="-S -display none -nodefaults -accel tcg -audiodev none,id=snd0 -monitor stdio"

# NAME|BINARY SUFFIX|QEMU ARGUMENTS (split on white space; COMMON is appended)
CASES=(
# --- x86 (i440FX "pc") ---
"x86-pc-128M|x86_64|-M pc -m 128M"
"x86-pc-4G|x86_64|-M pc -m 4G"
"x86-pc-8G-virtio|x86_64|-M pc -m 8G -blockdev driver=null-co,node-name=d0 -device virtio-blk-pci,drive=d0 -device virtio-net-pci -device virtio-rng-pci -device virtio-balloon-pci"
"x86-pc-smm-off|x86_64|-M pc,smm=off -m 256M"
"x86-pc-e1000-vga|x86_64|-M pc -m 512M -device VGA -device e1000 -device rtl8139"
"x86-pc-qxl|x86_64|-M pc -m 512M -device qxl-vga -device qxl"
"x86-pc-cirrus-isa|x86_64|-M pc -m 256M -device cirrus-vga -device ne2k_isa -device ib700 -device pvpanic -chardev null,id=dbg -device isa-debugcon,chardev=dbg -device isa-debug-exit"
"x86-pc-storage|x86_64|-M pc -m 1G -blockdev driver=null-co,node-name=d0 -blockdev driver=null-co,node-name=d1 -device nvme,serial=deadbeef,drive=d0 -device ich9-ahci -device megasas -device lsi53c895a -device virtio-scsi-pci -device virtio-blk-pci,drive=d1"
"x86-pc-usb|x86_64|-M pc -m 512M -device piix3-usb-uhci -device usb-ehci -device qemu-xhci -device pci-ohci"
"x86-pc-dimm|x86_64|-M pc -m 512M,slots=4,maxmem=8G -object memory-backend-ram,id=m0,size=256M -object memory-backend-ram,id=m1,size=1G -device pc-dimm,memdev=m0 -device pc-dimm,memdev=m1"
"x86-pc-nvdimm|x86_64|-M pc,nvdimm=on -m 256M,slots=2,maxmem=4G -object memory-backend-ram,id=nv0,size=128M -device nvdimm,memdev=nv0"
"x86-pc-ivshmem|x86_64|-M pc -m 256M -object memory-backend-ram,id=sh0,size=4M,share=on -device ivshmem-plain,memdev=sh0"
"x86-pc-pflash|x86_64|-M pc -m 512M -drive if=pflash,format=raw,file=blank-2M.bin"
"x86-pc-i440fx-2.0|x86_64|-M pc-i440fx-2.0 -m 4G"
"x86-pc-bridge|x86_64|-M pc -m 1G -device pci-bridge,id=br1,chassis_nr=1 -device e1000,bus=br1,addr=1 -device virtio-net-pci,bus=br1,addr=2 -device VGA,bus=br1,addr=3"
"i386-pc|i386|-M pc -m 256M -cpu pentium3"
"i386-isapc|i386|-M isapc -m 32M"
# --- x86 (q35) ---
"x86-q35-128M|x86_64|-M q35 -m 128M"
"x86-q35-4G|x86_64|-M q35 -m 4G"
"x86-q35-8G-devices|x86_64|-M q35 -m 8G -blockdev driver=null-co,node-name=d0 -blockdev driver=null-co,node-name=d1 -device virtio-net-pci -device virtio-blk-pci,drive=d0 -device e1000e -device nvme,serial=deadbeef,drive=d1 -device qemu-xhci -device virtio-vga"
"x86-q35-smm-off|x86_64|-M q35,smm=off -m 256M"
"x86-q35-smp4|x86_64|-M q35 -m 1G -smp 4"
"x86-q35-root-ports|x86_64|-M q35 -m 2G -blockdev driver=null-co,node-name=d0 -device pcie-root-port,id=rp1,chassis=1,slot=1 -device pcie-root-port,id=rp2,chassis=2,slot=2 -device pcie-root-port,id=rp3,chassis=3,slot=3 -device virtio-net-pci,bus=rp1 -device nvme,serial=deadbeef,drive=d0,bus=rp2 -device qemu-xhci,bus=rp3"
"x86-q35-switch-bridge|x86_64|-M q35 -m 1G -device pcie-root-port,id=rp1,chassis=1,slot=1 -device x3130-upstream,id=up1,bus=rp1 -device xio3130-downstream,id=dn1,bus=up1,chassis=2,slot=0 -device e1000e,bus=dn1 -device pcie-pci-bridge,id=pb1 -device e1000,bus=pb1,addr=1 -device ioh3420,id=rp2,chassis=3,slot=3 -device virtio-rng-pci,bus=rp2"
"x86-q35-dimm-nvdimm|x86_64|-M q35,nvdimm=on -m 1G,slots=4,maxmem=16G -object memory-backend-ram,id=m0,size=512M -object memory-backend-ram,id=nv0,size=256M -device pc-dimm,memdev=m0 -device nvdimm,memdev=nv0"
"x86-q35-ivshmem-ahci|x86_64|-M q35 -m 512M -object memory-backend-ram,id=sh0,size=8M,share=on -device ivshmem-plain,memdev=sh0 -device ich9-ahci -device ich9-usb-ehci1 -device intel-hda"
"x86-q35-vga-bochs|x86_64|-M q35 -m 512M -device VGA,vgamem_mb=32 -device bochs-display -device ramfb"
"x86-q35-intel-iommu|x86_64|-M q35 -m 1G -device intel-iommu -device virtio-net-pci -device e1000e"
"x86-q35-amd-iommu|x86_64|-M q35 -m 1G -device amd-iommu -device rtl8139"
"x86-q35-virtio-mem|x86_64|-M q35 -m 1G,maxmem=4G -object memory-backend-ram,id=vm0,size=1G -device virtio-mem-pci,memdev=vm0,id=vmem0,requested-size=0"
"x86-q35-2.10|x86_64|-M pc-q35-2.10 -m 2G"
# --- x86 (microvm) ---
"x86-microvm|x86_64|-M microvm -m 256M"
"x86-microvm-virtio|x86_64|-M microvm,rtc=on,pit=on,pic=on,isa-serial=on -m 512M -blockdev driver=null-co,node-name=d0 -device virtio-net-device -device virtio-blk-device,drive=d0"
"x86-microvm-pcie|x86_64|-M microvm,pcie=on -m 1G -device virtio-net-pci"
# --- aarch64 ---
"aarch64-virt-gicv2|aarch64|-M virt,gic-version=2 -cpu cortex-a57 -m 1G"
"aarch64-virt-gicv3-its|aarch64|-M virt,gic-version=3,its=on -cpu cortex-a72 -m 2G -smp 2"
"aarch64-virt-highmem-off|aarch64|-M virt,highmem=off -cpu cortex-a57 -m 2G"
"aarch64-virt-8G-pcie|aarch64|-M virt,gic-version=3 -cpu cortex-a57 -m 8G -blockdev driver=null-co,node-name=d0 -device pcie-root-port,id=rp1,chassis=1,slot=1 -device pcie-root-port,id=rp2,chassis=2,slot=2 -device nvme,serial=deadbeef,drive=d0,bus=rp1 -device virtio-net-pci,bus=rp2 -device qemu-xhci -device virtio-gpu-pci"
"aarch64-virt-smmuv3|aarch64|-M virt,iommu=smmuv3 -cpu cortex-a57 -m 1G -blockdev driver=null-co,node-name=d0 -device virtio-net-pci -device virtio-blk-pci,drive=d0"
"aarch64-virt-gicv4|aarch64|-M virt,gic-version=4,virtualization=on -cpu max -m 1G -smp 2"
"aarch64-virt-mte|aarch64|-M virt,mte=on -cpu max -m 1G"
"aarch64-virt-secure|aarch64|-M virt,secure=on,virtualization=on -cpu cortex-a57 -m 1G"
"aarch64-virt-mmio|aarch64|-M virt -cpu cortex-a53 -m 512M -blockdev driver=null-co,node-name=d0 -device virtio-blk-device,drive=d0 -device virtio-net-device -device virtio-rng-device"
"aarch64-virt-6.2|aarch64|-M virt-6.2 -cpu cortex-a57 -m 1G"
"aarch64-sbsa-ref|aarch64|-M sbsa-ref -m 1G"
"aarch64-raspi3b|aarch64|-M raspi3b"
"aarch64-xlnx-versal-virt|aarch64|-M xlnx-versal-virt -m 2G"
# --- arm (32-bit) ---
"arm-virt|arm|-M virt -cpu cortex-a15 -m 1G"
"arm-mps2-an385|arm|-M mps2-an385"
"arm-mps2-an505|arm|-M mps2-an505"
"arm-mps2-an521|arm|-M mps2-an521"
"arm-mps3-an524|arm|-M mps3-an524"
"arm-mps3-an547|arm|-M mps3-an547"
"arm-musca-a|arm|-M musca-a"
"arm-musca-b1|arm|-M musca-b1"
"arm-realview-eb|arm|-M realview-eb"
"arm-realview-pb-a8|arm|-M realview-pb-a8"
"arm-realview-pbx-a9|arm|-M realview-pbx-a9"
"arm-sabrelite|arm|-M sabrelite"
"arm-mcimx7d-sabre|arm|-M mcimx7d-sabre"
"arm-vexpress-a9|arm|-M vexpress-a9 -m 512M"
"arm-vexpress-a15|arm|-M vexpress-a15 -m 1G"
"arm-raspi2b|arm|-M raspi2b"
"arm-xilinx-zynq-a9|arm|-M xilinx-zynq-a9"
"arm-npcm750-evb|arm|-M npcm750-evb"
"arm-ast2600-evb|arm|-M ast2600-evb"
"arm-versatilepb|arm|-M versatilepb"
"arm-integratorcp|arm|-M integratorcp"
"arm-cubieboard|arm|-M cubieboard"
"arm-orangepi-pc|arm|-M orangepi-pc"
"arm-highbank|arm|-M highbank"
"arm-stm32vldiscovery|arm|-M stm32vldiscovery"
"arm-microbit|arm|-M microbit"
"arm-lm3s6965evb|arm|-M lm3s6965evb"
"arm-musicpal|arm|-M musicpal"
"arm-kzm|arm|-M kzm"
# --- riscv ---
"riscv32-virt|riscv32|-M virt -m 256M -bios none"
"riscv64-virt|riscv64|-M virt -m 1G"
"riscv64-virt-aia-pcie|riscv64|-M virt,aia=aplic-imsic -m 2G -smp 2 -blockdev driver=null-co,node-name=d0 -device nvme,serial=deadbeef,drive=d0 -device virtio-net-pci -device pcie-root-port,id=rp1,chassis=1 -device e1000e,bus=rp1"
"riscv64-virt-pflash|riscv64|-M virt -m 512M -drive if=pflash,format=raw,unit=0,file=blank-32M.bin"
"riscv32-spike|riscv32|-M spike -bios none"
"riscv64-spike|riscv64|-M spike"
"riscv64-sifive_u|riscv64|-M sifive_u"
"riscv32-sifive_u|riscv32|-M sifive_u -bios none"
"riscv64-sifive_e|riscv64|-M sifive_e"
"riscv32-sifive_e|riscv32|-M sifive_e"
"riscv64-microchip-icicle-kit|riscv64|-M microchip-icicle-kit -m 2G -bios blank-64K.bin"
"riscv64-shakti_c|riscv64|-M shakti_c -bios blank-64K.bin"
"riscv32-opentitan|riscv32|-M opentitan"
# --- ppc ---
"ppc-40p|ppc|-M 40p"
"ppc-mac99|ppc|-M mac99 -m 256M"
"ppc64-mac99|ppc64|-M mac99 -m 512M"
"ppc-g3beige|ppc|-M g3beige -m 256M"
"ppc64-powernv9|ppc64|-M powernv9 -m 2G"
"ppc64-powernv8|ppc64|-M powernv8 -m 2G"
"ppc64-powernv10|ppc64|-M powernv10 -m 2G"
"ppc64-pseries|ppc64|-M pseries -m 1G"
"ppc64-pseries-devices|ppc64|-M pseries -m 2G -smp 2 -blockdev driver=null-co,node-name=d0 -device spapr-vscsi -device virtio-net-pci -device virtio-blk-pci,drive=d0 -device qemu-xhci -device VGA"
"ppc-ppce500|ppc|-M ppce500 -bios tiny-ppc32.elf"
"ppc64-ppce500-e5500|ppc64|-M ppce500 -cpu e5500 -m 1G -bios tiny-ppc32.elf -device virtio-net-pci -device e1000"
"ppc-mpc8544ds|ppc|-M mpc8544ds -bios tiny-ppc32.elf"
"ppc-sam460ex|ppc|-M sam460ex"
"ppc-ref405ep|ppc|-M ref405ep -bios blank-512K.bin"
"ppc-pegasos2|ppc|-M pegasos2"
"ppc-bamboo|ppc|-M bamboo"
"ppc-virtex-ml507|ppc|-M virtex-ml507"
# --- mips ---
"mips-malta|mips|-M malta -m 256M"
"mipsel-malta|mipsel|-M malta -m 256M"
"mips64el-malta-2G|mips64el|-M malta -m 2G -device e1000"
"mips64el-fuloong2e|mips64el|-M fuloong2e"
"mips64el-loongson3-virt|mips64el|-M loongson3-virt -m 1G -bios blank-1M.bin"
"mips64el-boston|mips64el|-M boston -bios blank-4M.bin"
"mips64-magnum|mips64|-M magnum -bios blank-256K.bin"
"mips64el-pica61|mips64el|-M pica61 -bios blank-256K.bin"
"mips-mipssim|mips|-M mipssim"
# --- sparc ---
"sparc-SS-5|sparc|-M SS-5"
"sparc-LX|sparc|-M LX"
"sparc-SS-20|sparc|-M SS-20 -m 512M"
"sparc-leon3|sparc|-M leon3_generic -bios blank-64K.bin"
"sparc64-sun4u|sparc64|-M sun4u -m 512M"
"sparc64-sun4v|sparc64|-M sun4v"
# --- others ---
"alpha-clipper|alpha|-M clipper -m 256M"
"hppa|hppa|-M hppa -m 512M"
"loongarch64-virt|loongarch64|-M virt -m 2G"
"xtensa-lx60|xtensa|-M lx60"
"xtensa-kc705|xtensa|-M kc705"
"xtensa-sim|xtensa|-M sim"
"xtensa-virt|xtensa|-M virt"
"s390x-ccw|s390x|-M s390-ccw-virtio -m 1G"
"s390x-ccw-devices|s390x|-M s390-ccw-virtio -m 2G -blockdev driver=null-co,node-name=d0 -device virtio-blk-ccw,drive=d0 -device virtio-net-ccw -device virtio-net-pci"
"nios2-10m50-ghrd|nios2|-M 10m50-ghrd"
"or1k-sim|or1k|-M or1k-sim"
"or1k-virt|or1k|-M virt"
"microblaze-s3adsp1800|microblaze|-M petalogix-s3adsp1800"
"microblazeel-ml605|microblazeel|-M petalogix-ml605"
"microblazeel-zynqmp-pmu|microblazeel|-M xlnx-zynqmp-pmu"
"m68k-virt|m68k|-M virt -m 128M"
"m68k-q800|m68k|-M q800 -m 128M -bios blank-1M.bin"
"m68k-mcf5208evb|m68k|-M mcf5208evb -kernel blank-4K.bin"
"m68k-next-cube|m68k|-M next-cube"
"sh4-r2d|sh4|-M r2d"
"sh4eb-r2d|sh4eb|-M r2d"
"cris-axis-dev88|cris|-M axis-dev88 -kernel blank-4K.bin"
"avr-uno|avr|-M uno"
"avr-mega2560|avr|-M mega2560"
"tricore-tc277|tricore|-M KIT_AURIX_TC277_TRB"
"rx-gdbsim|rx|-M gdbsim-r5f562n8 -bios blank-64K.bin"
)

# ---------------------------------------------------------------------------

# Splits one monitor transcript into the two dumps and checks them.
#   python3 - RAW OUTDIR STORED CASE
#                   writes OUTDIR/mtree.txt and OUTDIR/flat.txt: the new dumps, or
#                   the ones in STORED when they differ only in the order of their
#                   groups (QEMU prints them in hash order)
#   python3 - --check DIR CASE     checks DIR/mtree.txt and DIR/flat.txt
# Prints one summary line; exit 1 (with the reason on stderr) when a check fails.
read -r -d '' SPLIT_PY <<'EOF'
import os, re, sys
from collections import Counter

def fail(msg):
    sys.stderr.write('%s: %s\n' % (case, msg)); sys.exit(1)

def lines_of(data):
    return re.findall(rb'[^\n]*\n|[^\n]+$', data)

def split(raw):
    ls = lines_of(raw)
    if not ls or not re.match(rb'^QEMU [^\n]* monitor - type .help. for more information\r?\n$', ls[0]):
        fail('no monitor banner on the first line of the transcript')
    prompts = [i for i, l in enumerate(ls) if l.startswith(b'(qemu) ')]
    cmds = [b'info mtree -D', b'info mtree -f', b'quit']
    if len(prompts) != 3:
        fail('%d prompt lines in the transcript, expected 3' % len(prompts))
    for i, c in zip(prompts, cmds):
        if not ls[i].rstrip(b'\r\n').endswith(c + b'\x1b[K'):
            fail('prompt line %d does not echo %r' % (i + 1, c.decode()))
    if prompts[0] != 1:
        fail('output between the banner and the first prompt')
    if prompts[2] != len(ls) - 1:
        fail('output after the quit command')
    return b''.join(ls[prompts[0] + 1:prompts[1]]), b''.join(ls[prompts[1] + 1:prompts[2]])

HEX = r'[0-9a-f]{16}'
REGION = re.compile(r'^(\[DETECTED OVERFLOW!\] )?((?:  )+)(' + HEX + r')-(' + HEX +
                    r') \(prio (-?\d+), (nv-)?(ram|rom|romd|ramd|i/o)\): (.*)$')
ALIAS = re.compile(r'^alias (.*) @(.*) (' + HEX + r')-(' + HEX + r')( \[disabled\])?$')

def eol_kind(data):
    crlf = data.count(b'\r\n'); lf = data.count(b'\n') - crlf
    return 'CRLF' if lf == 0 and crlf else 'LF' if crlf == 0 else 'mixed (%d CRLF, %d LF)' % (crlf, lf)

def check_mtree(text):
    ases, sections, targets, regions, aliases = Counter(), set(), [], 0, 0
    state, depth = 'start', 0      # start | header | tree
    for no, line in enumerate(text.split('\n')[:-1], 1):
        line = line.rstrip('\r')
        if line == '':
            if state == 'header':
                fail('mtree.txt:%d: section header without a tree' % no)
            state = 'start'; continue
        m = re.match(r'^(address-space|memory-region): (.*)$', line)
        if m:
            if state == 'tree':
                fail('mtree.txt:%d: header inside a tree (no blank line before it)' % no)
            if m.group(1) == 'address-space':
                ases[m.group(2)] += 1
            else:
                if state == 'header':
                    fail('mtree.txt:%d: memory-region: header after another header' % no)
                sections.add(m.group(2))
            state = 'header'; continue
        m = REGION.match(line)
        if not m:
            fail('mtree.txt:%d: unrecognised line: %r' % (no, line))
        d = len(m.group(2)) // 2
        if state == 'header':
            if d != 1:
                fail('mtree.txt:%d: tree root not at depth 1' % no)
        elif state == 'tree':
            if d < 2 or d > depth + 1:
                fail('mtree.txt:%d: depth %d after depth %d' % (no, d, depth))
        else:
            fail('mtree.txt:%d: region line outside a section' % no)
        if int(m.group(3), 16) > int(m.group(4), 16) and not m.group(1):
            fail('mtree.txt:%d: start after end' % no)
        regions += 1
        a = ALIAS.match(m.group(8))
        if a:
            aliases += 1; targets.append((no, a.group(2)))
        elif m.group(8).startswith('alias '):
            fail('mtree.txt:%d: malformed alias line' % no)
        state, depth = 'tree', d
    if text and not text.endswith('\n'):
        fail('mtree.txt does not end with a line end')
    if not ases:
        fail('mtree.txt has no address-space: line')
    for no, t in targets:
        if t not in sections:
            fail('mtree.txt:%d: alias target %r has no memory-region: section' % (no, t))
    return ases, len(sections), regions, aliases

AS_LINE = re.compile(r'^ AS "(.*)", root: (.*)$')
RANGE = re.compile(r'^  (' + HEX + r')-(' + HEX + r') \(prio (-?\d+), (nv-)?(ram|rom|romd|ramd|i/o)\): (.+)$')

def check_flat(text):
    ases, views, ranges, empty = Counter(), 0, 0, 0
    state, last_end = 'start', None   # start | as | root | body | done
    for no, line in enumerate(text.split('\n')[:-1], 1):
        line = line.rstrip('\r')
        where = 'flat.txt:%d: ' % no
        if re.match(r'^FlatView #\d+$', line):
            if state not in ('start',):
                fail(where + 'FlatView without the blank line before it')
            views += 1; state = 'as'; continue
        m = AS_LINE.match(line)
        if m:
            if state != 'as':
                fail(where + 'AS line out of place')
            ases[m.group(1)] += 1; continue
        if line.startswith(' Root memory region: '):
            if state != 'as':
                fail(where + 'Root memory region line out of place')
            state, last_end = 'root', None; continue
        if line == '  No rendered FlatView':
            if state != 'root':
                fail(where + '"No rendered FlatView" out of place')
            empty += 1; state = 'done'; continue
        m = RANGE.match(line)
        if m:
            if state not in ('root', 'body'):
                fail(where + 'range line out of place')
            s, e = int(m.group(1), 16), int(m.group(2), 16)
            if e < s or (last_end is not None and s <= last_end):
                fail(where + 'range not sorted or overlapping')
            last_end = e; ranges += 1; state = 'body'; continue
        if line == '':
            if state in ('as', 'root'):
                fail(where + 'FlatView block without a body')
            state = 'start'; continue
        fail(where + 'unrecognised line: %r' % line)
    if views == 0:
        fail('flat.txt has no FlatView')
    if state != 'start':
        fail('flat.txt does not end with a blank line')
    return ases, views, ranges, empty

args = sys.argv[1:]
checking = args[0] == '--check'
if checking:
    src, case = args[1:]
else:
    src, outdir, stored, case = args
if checking:
    mtree = open(os.path.join(src, 'mtree.txt'), 'rb').read()
    flat = open(os.path.join(src, 'flat.txt'), 'rb').read()
else:
    mtree, flat = split(open(src, 'rb').read())
if not mtree.strip() or not flat.strip():
    fail('an empty dump')
t_mtree = mtree.decode('utf-8', 'surrogateescape')
t_flat = flat.decode('utf-8', 'surrogateescape')
as_tree, nsections, nregions, naliases = check_mtree(t_mtree)
as_flat, nviews, nranges, nempty = check_flat(t_flat)
if as_tree != as_flat:
    fail('address spaces differ: only in mtree.txt %s, only in flat.txt %s'
         % (sorted((as_tree - as_flat).elements()), sorted((as_flat - as_tree).elements())))
def blocks(data):
    # the dump as a sorted list of its blank-line separated blocks, FlatView
    # numbers left out: equal for two runs that differ only in hash order
    data = re.sub(rb'(?m)^FlatView #\d+\r?\n', b'', data)
    return sorted(re.split(rb'(?m)^\r?\n', data))

kept = ''
if not checking:
    old = {}
    for name in ('mtree.txt', 'flat.txt'):
        try:
            old[name] = open(os.path.join(stored, name), 'rb').read()
        except OSError:
            pass
    if (len(old) == 2 and blocks(old['mtree.txt']) == blocks(mtree)
            and blocks(old['flat.txt']) == blocks(flat)):
        # the same capture in another hash order: keep the stored one
        mtree, flat, kept = old['mtree.txt'], old['flat.txt'], ' (unchanged)'
    for name, data in (('mtree.txt', mtree), ('flat.txt', flat)):
        with open(os.path.join(outdir, name), 'wb') as f:
            f.write(data)
print('%-32s %3d AS, %3d sections, %5d regions (%4d aliases), %3d flat views '
      '(%d empty), %5d ranges, %s%s' % (case, sum(as_tree.values()), nsections, nregions,
                                        naliases, nviews, nempty, nranges,
                                        eol_kind(mtree + flat), kept))
EOF

field() { # field N LINE - the Nth '|'-separated field of a case line
    local IFS='|'; local -a f; read -r -a f <<<"$2"; printf '%s' "${f[$1]}"
}

find_case() {
    local c
    for c in "${CASES[@]}"; do
        [[ $(field 0 "$c") == "$1" ]] && { printf '%s' "$c"; return 0; }
    done
    return 1
}

# describe ARGS - "machine<TAB>options and devices" for the README table
describe() {
    local -a a; read -r -a a <<<"$1"
    local machine='' out='' item i size
    for ((i = 0; i < ${#a[@]}; i++)); do
        item=
        case ${a[i]} in
            -M) machine=${a[++i]} ;;
            -m|-smp|-cpu|-bios|-kernel) item="${a[i]} ${a[i + 1]}"; i=$((i + 1)) ;;
            -device) item=${a[++i]%%,*} ;;
            -drive) i=$((i + 1)); [[ ${a[i]} == *if=pflash* ]] && item="pflash ${a[i]##*file=}" ;;
            -object)
                i=$((i + 1)); item=${a[i]%%,*}
                size=$(grep -oE 'size=[^,]+' <<<"${a[i]}") && item="$item ${size#size=}" ;;
        esac
        [[ -n $item ]] && out+="${out:+, }$item"
    done
    printf '%s\t%s' "$machine" "${out:-(board defaults)}"
}

scratch=$(mktemp -d "${TMPDIR:-/tmp}/capture-qemu.XXXXXX") || exit 1
if [[ ${KEEP_SCRATCH:-0} == 1 ]]; then
    echo "scratch folder: $scratch" >&2
else
    trap 'rm -rf "$scratch"' EXIT
fi

# make_scratch_file NAME - the stand-in firmware files, made once per run:
#   blank-SIZE.bin   SIZE zero bytes (SIZE = digits and K or M)
#   tiny-ppc32.elf   a big-endian 32-bit PowerPC ELF executable with one 4-byte
#                    segment ("b ." at 0x01000000), for the e500 boards, which
#                    take only an ELF or a U-Boot image as firmware
make_scratch_file() {
    [[ -e $scratch/$1 ]] && return 0
    case $1 in
        blank-*.bin) truncate -s "${1//[^0-9KM]/}" "$scratch/$1" ;;
        tiny-ppc32.elf)
            python3 -c '
import struct, sys
code = struct.pack(">I", 0x48000000)
ehdr = b"\x7fELF" + bytes([1, 2, 1, 0]) + bytes(8) + struct.pack(
    ">HHIIIIIHHHHHH", 2, 20, 1, 0x1000000, 52, 0, 0, 52, 32, 1, 40, 0, 0)
phdr = struct.pack(">IIIIIIII", 1, 84, 0x1000000, 0x1000000, 4, 4, 5, 4)
sys.stdout.buffer.write(ehdr + phdr + code)' >"$scratch/$1" ;;
        *) echo "no recipe for scratch file $1" >&2; return 1 ;;
    esac
}

capture() { # capture CASE-LINE
    local name bin args cmd dir raw f
    name=$(field 0 "$1"); bin=qemu-system-$(field 1 "$1"); args=$(field 2 "$1")
    cmd="$bin $args $COMMON"
    if ! command -v "$bin" >/dev/null; then
        echo "$name: $bin is not installed" >&2; return 1
    fi
    for f in $(grep -oE '(blank-[0-9]+[KM]\.bin|tiny-ppc32\.elf)' <<<"$args"); do
        make_scratch_file "$f" || return 1
    done
    raw=$scratch/$name.raw
    # shellcheck disable=SC2086  # the arguments are split on purpose
    (cd "$scratch" && printf 'info mtree -D\ninfo mtree -f\nquit\n' |
        setarch "$(uname -m)" -R timeout -k 5 "$TIMEOUT" $cmd >"$raw" 2>"$raw.err")
    local rc=$?
    if ((rc != 0)); then
        echo "$name: QEMU exited with status $rc: $(head -c 300 "$raw.err" | tr '\n' ' ')" >&2
        return 1
    fi
    dir=$scratch/$name.out
    mkdir -p "$dir"
    python3 - "$raw" "$dir" "$OUT/$name" "$name" <<<"$SPLIT_PY" || return 1
    printf '%s\n' "$cmd" >"$dir/cmdline.txt"
    mkdir -p "$OUT/$name"
    for f in cmdline.txt mtree.txt flat.txt; do
        cmp -s "$dir/$f" "$OUT/$name/$f" || cp "$dir/$f" "$OUT/$name/$f"
    done
    if [[ -s $raw.err ]]; then
        sed "s/^/$name: (stderr) /" "$raw.err" >&2
    fi
}

mode=capture
case ${1:-} in
    --list) mode=list; shift ;;
    --table) mode=table; shift ;;
    --check) mode=check; shift ;;
    -h|--help) sed -n '4,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
esac

selected=()
if (($# == 0)); then
    selected=("${CASES[@]}")
else
    for n in "$@"; do
        c=$(find_case "$n") || { echo "unknown case: $n (see --list)" >&2; exit 2; }
        selected+=("$c")
    done
fi

status=0
case $mode in
    list)
        for c in "${selected[@]}"; do field 0 "$c"; echo; done ;;
    table)
        version=$(qemu-system-x86_64 --version | head -n 1)
        echo '| case | architecture | machine | options and devices | QEMU |'
        echo '| --- | --- | --- | --- | --- |'
        for c in "${selected[@]}"; do
            IFS=$'\t' read -r machine devices < <(describe "$(field 2 "$c")")
            printf '| %s | %s | %s | %s | %s |\n' "$(field 0 "$c")" "$(field 1 "$c")" \
                "$machine" "${devices:-}" "${version#QEMU emulator version }"
        done ;;
    check)
        for c in "${selected[@]}"; do
            n=$(field 0 "$c")
            if [[ -d $OUT/$n ]]; then
                python3 - --check "$OUT/$n" "$n" <<<"$SPLIT_PY" || status=1
            else
                echo "$n: not captured" >&2; status=1
            fi
        done ;;
    capture)
        failed=()
        for c in "${selected[@]}"; do
            capture "$c" || { status=1; failed+=("$(field 0 "$c")"); }
        done
        if ((${#failed[@]})); then
            echo "failed: ${failed[*]}" >&2
        fi ;;
esac
exit $status
