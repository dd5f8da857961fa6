#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# pkg-config.sh BUILD_DIR EXAMPLE.c - build an example the way README.md
# tells users to, with pkg-config:
#
#   - uninstalled: PKG_CONFIG_PATH=BUILD_DIR/meson-uninstalled; the flags
#     name include/ and no folder of src/ (a program including an internal
#     header does not compile); the example links against the shared
#     library, runs, and with --static against libguestmem.a;
#   - installed: `meson install --destdir` into a scratch folder, then the
#     installed guestmem.pc (PKG_CONFIG_SYSROOT_DIR pointing there) builds
#     and runs the example too.
#
# The compiler is $CC (default cc) with $EXTRA_CFLAGS (the sanitizer flags
# of the build, which a program linked against it needs too). Skips (77)
# without pkg-config. Ends with `N passed, N failed`.
set -u

build=$(cd "${1:?usage: pkg-config.sh BUILD_DIR EXAMPLE.c}" && pwd)
example=${2:?usage: pkg-config.sh BUILD_DIR EXAMPLE.c}
read -r -a cc <<<"${CC:-cc}"
read -r -a extra <<<"${EXTRA_CFLAGS:-}"

if ! command -v pkg-config >/dev/null; then
    echo "pkg-config not found: skipped"
    exit 77
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

passed=0
failed=0

result() {
    if [ "$2" -eq 0 ]; then
        echo "ok $1"
        passed=$((passed + 1))
    else
        echo "not ok $1"
        [ -s "$tmp/err" ] && sed 's/^/# /' "$tmp/err" | head -20
        failed=$((failed + 1))
    fi
}

# build_run NAME OUTPUT COMPILER-ARGS... -- compile, then run OUTPUT, which
# must print a flat view.
build_run() {
    local name=$1 out=$2
    shift 2
    "${cc[@]}" "${extra[@]}" -o "$out" "$@" >"$tmp/err" 2>&1
    result "$name-builds" $?
    "$out" >"$tmp/run" 2>"$tmp/err" && grep -q '^FlatView #0' "$tmp/run"
    result "$name-runs" $?
}

#
# Uninstalled.
#
export PKG_CONFIG_PATH=$build/meson-uninstalled
cflags=$(pkg-config --cflags guestmem 2>"$tmp/err")
result uninstalled-cflags $?
libs=$(pkg-config --libs guestmem 2>"$tmp/err")
result uninstalled-libs $?
libdir=$(pkg-config --variable=libdir guestmem)
includedir=$(pkg-config --variable=includedir guestmem)
srcdir=$(pkg-config --variable=srcdir guestmem)
echo "# cflags: $cflags"
echo "# libs: $libs"

# Only include/ (and what liburcu-bp's own .pc adds) is exposed.
ok=0
for f in $cflags; do
    case $f in
    -I"$srcdir"/include) ;;
    -I"$srcdir"* | -I"$build"*)
        echo "exposes $f" >"$tmp/err"
        ok=1
        ;;
    esac
done
[ "$ok" -eq 0 ] && [ "$includedir" = "$srcdir/include" ] &&
    [ -f "$includedir/guestmem/guestmem.h" ] &&
    [[ " $cflags " == *" -I$srcdir/include "* ]]
result uninstalled-only-include $?
[ -f "$libdir/libguestmem.so" ] && [ -f "$libdir/libguestmem.a" ]
result uninstalled-libdir $?
printf '#include "base/base.h"\nint main(void) { return 0; }\n' \
    >"$tmp/internal.c"
# shellcheck disable=SC2086 # pkg-config's flags are words
! "${cc[@]}" -c -o "$tmp/internal.o" "$tmp/internal.c" $cflags \
    >/dev/null 2>&1
result uninstalled-no-internal-headers $?

# shellcheck disable=SC2086
build_run uninstalled-shared "$tmp/hello" "$example" $cflags $libs \
    -Wl,-rpath,"$libdir"
# Static: libguestmem.a and what --static adds for it (liburcu, -pthread),
# without -lguestmem itself (the sanitizers link with --no-as-needed).
static_libs=$(pkg-config --static --libs guestmem | sed 's/-lguestmem\b//')
# shellcheck disable=SC2086
build_run uninstalled-static "$tmp/hello-static" "$example" $cflags \
    "$libdir/libguestmem.a" $static_libs
if command -v readelf >/dev/null; then
    ! readelf -d "$tmp/hello-static" | grep -q 'NEEDED.*libguestmem'
    result uninstalled-static-is-static $?
fi

#
# Installed, into a scratch folder.
#
meson=${MESON:-meson}
if "$meson" install -C "$build" --no-rebuild --destdir "$tmp/dest" \
    >"$tmp/err" 2>&1; then
    result install 0
    pc=$(find "$tmp/dest" -name guestmem.pc | head -1)
    [ -n "$pc" ]
    result installed-pc $?
    export PKG_CONFIG_PATH=${pc%/*}
    export PKG_CONFIG_SYSROOT_DIR=$tmp/dest
    cflags=$(pkg-config --cflags guestmem 2>"$tmp/err")
    libs=$(pkg-config --libs guestmem 2>"$tmp/err")
    libdir=$(pkg-config --variable=libdir guestmem) # with the sysroot
    [[ $libdir == "$tmp/dest"* ]] || libdir=$tmp/dest$libdir
    echo "# installed cflags: $cflags"
    echo "# installed libs: $libs"
    [[ " $cflags " == *" -I$tmp/dest/"*"/include "* ]] &&
        [[ " $cflags " != *" -I$srcdir"* ]] && [ -f "$libdir/libguestmem.so" ]
    result installed-flags $?
    # shellcheck disable=SC2086
    build_run installed "$tmp/hello-installed" "$example" $cflags $libs \
        -Wl,-rpath,"$libdir"
    [ -f "$(find "$tmp/dest" -path '*/man1/guestmem.1' | head -1)" ]
    result installed-man-page $?
else
    result install 1
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
