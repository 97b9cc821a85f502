#!/usr/bin/env bash
# tests/ktls/vm.sh: runs a shell script inside a QEMU guest that boots Debian 12's stock kernel
# (which has the kernel TLS module, tls.ko) from a tiny busybox initramfs, so that kTLS code can be
# tested on a machine whose own kernel has no kTLS, without KVM (TCG) and without root.
#
#   tests/ktls/vm.sh [--cache DIR] [--file HOST_PATH[:GUEST_PATH]]...
#                    [--bin HOST_BINARY[:GUEST_PATH]]... [--modules "NAME..."]
#                    [--timeout S] --run GUEST_SCRIPT
#
# --cache DIR   the kernel's .deb and the vmlinuz and modules taken from it, kept between runs
#               (default ${TRPC_KTLS_CACHE:-/var/tmp/trpc-ktls}). The kernel is the one Debian's
#               linux-image-amd64 depends on today (apt-cache), fetched with apt-get download once.
# --file        a plain file (certificates, configs); guest path default /t/NAME.
# --bin         a dynamically linked ELF program, with every shared library ldd lists (at the same
#               absolute paths) and the dynamic loader. A libtool wrapper script stands for its
#               real program in .libs/; the libraries of the build (its .libs directories) go to
#               /lib in the guest. Guest path default /bin/NAME.
# --modules     the kernel modules to insmod, in order (default: gf128mul ghash-generic ctr gcm
#               tls, what AES-GCM kTLS needs; the guest has no modprobe to load them by name).
# --run         the script the guest runs with sh, in /t, after the modules are loaded; lo is up,
#               /proc, /sys, /dev and a tmpfs /tmp are mounted. Whatever it prints is in the log.
# --timeout S   bound on the guest's run (default 300).
#
# The guest's /init ends with "KTLS-RESULT: PASS" (the script exited 0) or "KTLS-RESULT: FAIL ...".
# Prints the guest's console log (without \r and escape sequences) and exits 0 on PASS, 1 on FAIL
# or no result line (a timeout, a panic). Guest paths under /tmp are refused: the tmpfs hides them.
#
# Exits 77 (automake's SKIP) when the VM cannot be had here: qemu-system-x86_64, busybox or cpio
# missing (Debian: qemu-system-x86 busybox-static cpio), or no kernel in the cache and none to be
# downloaded (no apt lists, no network). With TRPC_REQUIRE_QEMU=1 (CI) those exit 1 instead.
set -euo pipefail

me=vm.sh
cache=${TRPC_KTLS_CACHE:-/var/tmp/trpc-ktls}
timeout_s=300
run=
modules="gf128mul ghash-generic ctr gcm tls"
files=()
bins=()

usage() {
    sed -n '6,8p' "$0" | sed 's/^# \{0,3\}//; 1s/^/usage: /; 2,3s/^/       /' >&2
    exit 2
}

# The VM cannot be had here: SKIP (77), or a failure when CI requires it.
unavailable() {
    echo "$me: cannot run: $*" >&2
    if [ "${TRPC_REQUIRE_QEMU:-0}" = 1 ]; then
        echo "$me: TRPC_REQUIRE_QEMU=1: that is a failure" >&2
        exit 1
    fi
    exit 77
}

die() {
    echo "$me: $*" >&2
    exit 1
}

while [ $# -gt 0 ]; do
    case "$1" in
    --cache) cache=${2:?--cache DIR}; shift 2 ;;
    --file) files+=("${2:?--file HOST_PATH[:GUEST_PATH]}"); shift 2 ;;
    --bin) bins+=("${2:?--bin HOST_BINARY[:GUEST_PATH]}"); shift 2 ;;
    --modules) modules=${2?--modules \"NAME...\"}; shift 2 ;;
    --run) run=${2:?--run GUEST_SCRIPT}; shift 2 ;;
    --timeout) timeout_s=${2:?--timeout S}; shift 2 ;;
    -h | --help) sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "$me: unknown argument '$1'" >&2; usage ;;
    esac
done
[ -n "$run" ] || usage
[ -f "$run" ] || die "no such script: $run"
case "$timeout_s" in '' | *[!0-9]*) die "--timeout wants seconds, not '$timeout_s'" ;; esac

qemu=$(command -v qemu-system-x86_64) || unavailable "qemu-system-x86_64 not installed (Debian: qemu-system-x86)"
busybox=$(command -v busybox) || unavailable "busybox not installed (Debian: busybox-static)"
command -v cpio >/dev/null || unavailable "cpio not installed"

work=$(mktemp -d "${TMPDIR:-/tmp}/ktls-vm.XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/root

# ---- The kernel: vmlinuz and the modules of crypto/, net/tls/, lib/crypto/, arch/x86/crypto/ (AES-NI,
# for perf/ktls.sh) from Debian's package. layout names what a cache entry holds: one made by an older
# version of this script is made again.
layout=2

mkdir -p "$cache" 2>/dev/null || unavailable "cannot create the cache directory $cache"
[ -w "$cache" ] || unavailable "cache directory $cache is not writable"

# The newest kernel already extracted into the cache, if any.
cached_kernel() {
    local d
    # shellcheck disable=SC2012
    d=$(ls -1d "$cache"/linux-image-*/ 2>/dev/null | sort -V | tail -n1)
    [ -n "$d" ] && [ -f "$d/vmlinuz" ] && echo "${d%/}"
}

# Downloads package $1 and extracts it into $cache/$1 (a rename makes it appear whole or not at
# all). Runs under the cache's lock.
fetch_kernel() {
    local pkg=$1 tmp deb rel m
    tmp=$(mktemp -d "$cache/.fetch.XXXXXX")
    chmod 755 "$tmp" # apt-get download drops root for the _apt user when it can
    echo "$me: downloading $pkg into $cache (once; about 70 MB)" >&2
    if ! (cd "$tmp" && timeout 900 apt-get download -q "$pkg") >"$tmp/apt.log" 2>&1; then
        sed 's/^/  apt-get: /' "$tmp/apt.log" >&2
        rm -rf "$tmp"
        return 1
    fi
    deb=$(ls "$tmp"/*.deb)
    mkdir "$tmp/x" "$tmp/out" "$tmp/out/modules"
    if ! dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp/x" --wildcards './boot/vmlinuz-*' \
        './lib/modules/*/kernel/crypto/*' './lib/modules/*/kernel/net/tls/*' './lib/modules/*/kernel/lib/crypto/*' \
        './lib/modules/*/kernel/arch/x86/crypto/*'; then
        rm -rf "$tmp"
        die "cannot extract $deb"
    fi
    mv "$tmp"/x/boot/vmlinuz-* "$tmp/out/vmlinuz"
    rel=$(ls "$tmp/x/lib/modules")
    echo "$rel" >"$tmp/out/release"
    echo "$layout" >"$tmp/out/layout"
    # Flat, uncompressed: busybox insmod takes a plain .ko (Debian 12's are; later ones are xz/zstd).
    while IFS= read -r -d '' m; do
        case "$m" in
        *.ko) mv "$m" "$tmp/out/modules/" ;;
        *.ko.xz) xz -dc "$m" >"$tmp/out/modules/$(basename "$m" .xz)" ;;
        *.ko.zst) zstd -qdc "$m" >"$tmp/out/modules/$(basename "$m" .zst)" ;;
        esac
    done < <(find "$tmp/x" -name '*.ko*' -print0)
    mv "$deb" "$tmp/out/"
    # An older kernel's .deb is of no more use; its small extracted files stay as a fallback.
    rm -f "$cache"/linux-image-*/*.deb
    rm -rf "${cache:?}/${pkg:?}"
    mv -T "$tmp/out" "$cache/$pkg"
    rm -rf "$tmp"
}

exec 9>"$cache/.lock"
flock -w 1200 9 || die "timed out waiting for the lock on $cache"
pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-/ {print $2; exit}') || true
kdir=
if [ -n "$pkg" ] && [ -f "$cache/$pkg/vmlinuz" ] && [ "$(cat "$cache/$pkg/layout" 2>/dev/null)" = "$layout" ]; then
    kdir=$cache/$pkg
elif [ -n "$pkg" ] && fetch_kernel "$pkg"; then
    kdir=$cache/$pkg
elif kdir=$(cached_kernel); then
    echo "$me: ${pkg:-the kernel of linux-image-amd64} not to be had: using the cached $(basename "$kdir")" >&2
elif [ -z "$pkg" ]; then
    unavailable "no kernel in $cache and apt knows no linux-image-amd64 (run apt-get update)"
else
    unavailable "no kernel in $cache and apt-get download $pkg failed (no network?)"
fi
exec 9>&-
for m in $modules; do
    [ -f "$kdir/modules/$m.ko" ] || die "$(basename "$kdir") has no module $m.ko"
done

# ---- The initramfs.

# guest_path GUEST: refuses what the guest's tmpfs /tmp would hide, and relative paths.
guest_path() {
    case "$1" in
    /tmp | /tmp/*) die "guest path $1 is under /tmp, which the guest mounts a tmpfs over" ;;
    /*) ;;
    *) die "guest path $1 is not absolute" ;;
    esac
}

# put HOST GUEST [MODE]: copies a file into the initramfs (dereferencing symlinks).
put() {
    guest_path "$2"
    mkdir -p "$root$(dirname "$2")"
    cp -L "$1" "$root$2"
    [ -z "${3:-}" ] || chmod "$3" "$root$2"
}

# The shared libraries ldd lists for $1 (with LD_LIBRARY_PATH=$2), one absolute path a line.
libs_of() {
    local out
    out=$(LD_LIBRARY_PATH=$2 ldd "$1" 2>&1) || {
        case "$out" in
        *"not a dynamic executable"*) return 0 ;; # static: nothing to copy
        *) die "ldd $1: $out" ;;
        esac
    }
    if grep -q 'not found' <<<"$out"; then
        die "ldd $1: some libraries are not found:
$out"
    fi
    awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' <<<"$out"
}

# add_bin HOST[:GUEST]: the program (the real one behind a libtool wrapper) and its libraries.
add_bin() {
    local host=${1%%:*} guest real ldpath=() lib dir name
    guest=${1#"$host"}
    guest=${guest#:}
    [ -f "$host" ] || die "no such program: $host"
    name=$(basename "$host")
    guest=${guest:-/bin/$name}
    real=$host
    if [ "$(head -c2 "$host")" = "#!" ] && grep -q libtool "$host"; then
        # A libtool wrapper: the real program is in .libs/, as NAME or lt-NAME (what the wrapper's
        # program= says), and the wrapper's LD_LIBRARY_PATH names the build's library directories.
        dir=$(dirname "$host")
        local prog
        prog=$(sed -n "s/^ *program=\(lt-\)\{0,1\}'\(.*\)'\$/\1\2/p" "$host" | head -n1)
        for cand in "$dir/.libs/${prog:-$name}" "$dir/.libs/lt-$name" "$dir/.libs/$name"; do
            if [ -f "$cand" ] && [ -x "$cand" ]; then
                real=$cand
                break
            fi
        done
        [ "$real" != "$host" ] || die "$host is a libtool wrapper, but $dir/.libs/ has no program $name (not built?)"
        # shellcheck disable=SC2016 # the $ is the wrapper's, literally
        lib=$(sed -n 's/^ *LD_LIBRARY_PATH="\(.*\):\$LD_LIBRARY_PATH"$/\1/p' "$host" | head -n1)
        [ -z "$lib" ] || IFS=: read -r -a ldpath <<<"$lib"
    fi
    put "$real" "$guest" 755
    local joined
    joined=$(IFS=:; echo "${ldpath[*]}")
    while IFS= read -r lib; do
        local from_build=no d
        for d in "${ldpath[@]}"; do
            [ "$(dirname "$lib")" -ef "$d" ] && from_build=yes
        done
        if [ "$from_build" = yes ]; then
            # The build's libraries (libtrpc.so.N) go where the guest's loader looks without help.
            put "$lib" "/lib/$(basename "$lib")"
        elif [ ! -e "$root$lib" ]; then
            put "$lib" "$lib"
        fi
    done < <(libs_of "$real" "$joined")
}

mkdir -p "$root"/{bin,sbin,lib/modules,t,proc,sys,dev,tmp,etc}
put "$busybox" /bin/busybox 755
while IFS= read -r lib; do [ -e "$root$lib" ] || put "$lib" "$lib"; done < <(libs_of "$busybox" "")
for m in $modules; do
    cp "$kdir/modules/$m.ko" "$root/lib/modules/"
done
for b in ${bins[@]+"${bins[@]}"}; do
    add_bin "$b"
done
for f in ${files[@]+"${files[@]}"}; do
    host=${f%%:*}
    guest=${f#"$host"}
    guest=${guest#:}
    [ -f "$host" ] || die "no such file: $host"
    put "$host" "${guest:-/t/$(basename "$host")}"
done
put "$run" /run-test.sh 755

cat >"$root/init" <<EOF
#!/bin/busybox sh
# Written by tests/ktls/vm.sh.
/bin/busybox --install -s /bin
export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/t
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
ip link set lo up
ip -4 addr show dev lo | grep -q 127.0.0.1 || ip addr add 127.0.0.1/8 dev lo
echo "KTLS-VM: /init at \$(cut -d' ' -f1 /proc/uptime) s of uptime, kernel \$(uname -r)"
ok=1
for m in $modules; do
    insmod /lib/modules/\$m.ko || { echo "KTLS-RESULT: FAIL insmod \$m"; ok=0; break; }
done
if [ \$ok = 1 ]; then
    cd /t
    sh /run-test.sh
    rc=\$?
    if [ \$rc = 0 ]; then echo "KTLS-RESULT: PASS"; else echo "KTLS-RESULT: FAIL rc=\$rc"; fi
fi
echo "KTLS-VM: done at \$(cut -d' ' -f1 /proc/uptime) s of uptime"
poweroff -f
EOF
chmod 755 "$root/init"
# The kernel's built-in initramfs has /dev/console; a node of our own helps where it does not.
[ "$(id -u)" -ne 0 ] || mknod -m 600 "$root/dev/console" c 5 1 2>/dev/null || true
(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet | gzip -1) >"$work/initrd.gz"

# ---- Boot.

echo "$me: booting $(basename "$kdir") ($(cat "$kdir/release" 2>/dev/null || echo '?')), initramfs $(($(stat -c %s "$work/initrd.gz") / 1024)) KiB, timeout ${timeout_s}s" >&2
start=$(date +%s.%N)
# No -accel: TCG, unless the machine has KVM. -cpu max gives RDRAND (getrandom is ready at once);
# -net none skips the iPXE ROM; panic=-1 and -no-reboot end QEMU if /init dies.
boot() {
    set +e
    timeout "$timeout_s" "$qemu" "$@" -cpu max -m 1024 -smp 2 -nodefaults -no-reboot \
        -display none -net none -serial "file:$work/guest.log" -kernel "$kdir/vmlinuz" -initrd "$work/initrd.gz" \
        -append "console=ttyS0 panic=-1 quiet" </dev/null >"$work/qemu.log" 2>&1
    qrc=$?
    set -e
}
if [ -w /dev/kvm ]; then
    boot -accel kvm
    # A nested KVM may refuse what -cpu max asks (QEMU aborts on an MSR it cannot set, before the
    # guest runs a line): then software emulation, as on a machine without KVM.
    if [ "$qrc" != 0 ] && [ "$qrc" != 124 ] && ! grep -q 'KTLS-VM: /init' "$work/guest.log" 2>/dev/null; then
        echo "$me: QEMU with KVM failed (status $qrc: $(head -c 200 "$work/qemu.log" | tr '\n' ' ')); again without KVM" >&2
        boot
    fi
else
    boot
fi
end=$(date +%s.%N)

# The console log without \r and terminal escape sequences.
tr -d '\r' <"$work/guest.log" | sed 's/\x1b\[[0-9;?]*[A-Za-z]//g' >"$work/clean.log" || true
cat "$work/clean.log"
boot=$(sed -n 's/^KTLS-VM: \/init at \([0-9.]*\) s.*/\1/p' "$work/clean.log" | head -n1)
done_at=$(sed -n 's/^KTLS-VM: done at \([0-9.]*\) s.*/\1/p' "$work/clean.log" | head -n1)
echo "$me: QEMU ran $(awk -v a="$start" -v b="$end" 'BEGIN {printf "%.1f", b - a}') s;" \
    "the guest reached /init after ${boot:-?} s of uptime, and was done after ${done_at:-?} s" >&2
result=$(grep -m1 '^KTLS-RESULT:' "$work/clean.log" || true)
if [ "$result" = "KTLS-RESULT: PASS" ]; then
    echo "$me: PASS" >&2
    exit 0
fi
if [ -s "$work/qemu.log" ]; then
    sed 's/^/qemu: /' "$work/qemu.log" >&2
fi
if [ -n "$result" ]; then
    echo "$me: FAIL: $result" >&2
elif [ "$qrc" = 124 ]; then
    echo "$me: FAIL: no result line: the guest did not finish within ${timeout_s}s" >&2
else
    echo "$me: FAIL: no result line (QEMU exit status $qrc)" >&2
fi
exit 1
