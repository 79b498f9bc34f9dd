#!/usr/bin/env bash
# The Debian package as an operator gets it: built by cpack from this build tree, installed with
# dpkg into a scratch root (never into this machine), and its programs run from there with the
# example configuration it ships. Usage: test_package.sh BUILD_DIR
set -euo pipefail
build=$1
work=$(mktemp -d "${TMPDIR:-/tmp}/flashsale-package.XXXXXX")
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# 1. The package, and what it asks of the machine: Debian runtime packages only.
(cd "$build" && timeout 300 cpack -G DEB -B "$work/out") >"$work/cpack.log" 2>&1 ||
  { cat "$work/cpack.log"; fail "cpack -G DEB failed"; }
debs=("$work"/out/flashsale_*.deb)
[ -f "${debs[0]}" ] || { cat "$work/cpack.log"; fail "cpack made no flashsale_*.deb"; }
deb=${debs[0]}
depends=$(dpkg-deb -f "$deb" Depends)
echo "package $(basename "$deb"), Depends: $depends"
for lib in libcaf-core libzookeeper-mt librabbitmq libpq5 libjwt libsodium; do
  grep -q "$lib" <<<"$depends" || fail "Depends does not name $lib"
done
! grep -qi odb <<<"$depends" || fail "Depends names an ODB package, which Debian 12 does not have"

# 2. Installed into a root of its own. The maintainer script runs outside a chroot (the root has
# no shell) with DPKG_ROOT set, so the system user is made in that root, not here.
root=$work/root
mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates" "$root/etc"
: >"$root/var/lib/dpkg/status"
timeout 120 dpkg --root="$root" --log=/dev/null --force-depends --force-script-chrootless \
  -i "$deb" >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log"; fail "dpkg -i into $root failed"; }
dpkg --root="$root" -s flashsale | grep -qx 'Status: install ok installed' ||
  fail "dpkg does not list flashsale as installed in $root"
if command -v systemd-sysusers >/dev/null 2>&1; then
  grep -q '^flashsale:' "$root/etc/passwd" 2>/dev/null ||
    fail "the package's postinst did not make the system user flashsale in $root"
fi
for f in usr/bin/flashsale-gateway usr/bin/flashsale-writer usr/bin/flashsale-admin \
         usr/bin/flashsale-load usr/share/flashsale/sql/001_tables.sql \
         usr/share/flashsale/config/gateway.ini usr/share/flashsale/config/writer.ini \
         usr/share/flashsale/config/sale.ini usr/lib/systemd/system/flashsale-gateway@.service \
         usr/lib/systemd/system/flashsale-writer@.service usr/lib/sysusers.d/flashsale.conf \
         usr/share/doc/flashsale/operations.md usr/share/doc/flashsale/configuration.md \
         usr/share/doc/flashsale/odb/libodb-2.4.copyright; do
  [ -e "$root/$f" ] || fail "the package does not install /$f"
done
libs=("$root"/usr/lib/flashsale/libodb-2.4.so)
[ -f "${libs[0]}" ] || fail "the bundled ODB runtime is missing"

# 3. Its programs run from that root and load the bundled ODB runtime, not the build tree's.
bin=$root/usr/bin
ldd "$bin/flashsale-writer" >"$work/ldd.txt"
grep -qF "libodb-pgsql-2.4.so => $root/usr/bin/../lib/flashsale/libodb-pgsql-2.4.so" "$work/ldd.txt" ||
  { cat "$work/ldd.txt"; fail "flashsale-writer does not load the ODB runtime from the package"; }
! grep -qF "$build" "$work/ldd.txt" || { cat "$work/ldd.txt"; fail "a library comes from the build tree"; }
! grep -q "not found" "$work/ldd.txt" || { cat "$work/ldd.txt"; fail "a library is missing"; }
"$bin/flashsale-admin" --help >"$work/admin.txt" 2>&1 || { cat "$work/admin.txt"; fail "flashsale-admin --help"; }
grep -q "installed: share/flashsale/sql" "$work/admin.txt" || fail "flashsale-admin --help: no sql dir"

# --help checks the configuration too (exit 0 only when it is valid): the shipped example files,
# with this test's secrets in place of /etc/flashsale/secrets.
secrets=$work/secrets
mkdir -m 700 "$secrets"
(umask 077
 echo test-password >"$secrets/password"
 printf 'gateway:%s,writer:%s\n' \
   "$(printf 'gateway:test-password' | openssl dgst -sha1 -binary | base64)" \
   "$(printf 'writer:test-password' | openssl dgst -sha1 -binary | base64)" >"$secrets/identities")
"$bin/flashsale-admin" token keygen --out "$secrets/buyer-token.key" >/dev/null
config=$root/usr/share/flashsale/config
common=(--gateway.sale-file="$config/sale.ini" --db.password-file="$secrets/password"
        --amqp.password-file="$secrets/password" --zookeeper.password-file="$secrets/password"
        --zookeeper.identities-file="$secrets/identities")
"$bin/flashsale-gateway" --config-file="$config/gateway.ini" --help "${common[@]}" \
  --auth.key-file="$secrets/buyer-token.key" >"$work/gateway.txt" 2>&1 ||
  { cat "$work/gateway.txt"; fail "flashsale-gateway --help with the shipped gateway.ini"; }
grep -q -- "--config-file" "$work/gateway.txt" || fail "flashsale-gateway --help printed no help"
"$bin/flashsale-writer" --config-file="$config/writer.ini" --help \
  "${common[@]/--gateway./--writer.}" >"$work/writer.txt" 2>&1 ||
  { cat "$work/writer.txt"; fail "flashsale-writer --help with the shipped writer.ini"; }

# 4. The units name programs and files the package installs.
for unit in "$root"/usr/lib/systemd/system/flashsale-*.service; do
  exe=$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$unit")
  [ -x "$root$exe" ] || fail "$(basename "$unit"): ExecStart $exe is not in the package"
done
echo "installed into $root and ran flashsale-gateway, -writer and -admin from it"
