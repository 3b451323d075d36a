#!/usr/bin/env bash
# CI: builds the Debian package from the binary the tests just built (cargo deb --no-build, so no
# second compilation; releases use plain `cargo deb`), unpacks it with dpkg -x into a scratch
# root, and checks what ops get: the files and their modes, the conffiles, a postinst that does
# nothing surprising, the user and directories its sysusers/tmpfiles files create, a binary that
# runs; lintian finds no error. Installs cargo-deb (pinned) and lintian when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
CARGO_DEB_VERSION=3.8.0
if ! cargo deb --version >/dev/null 2>&1; then
    cargo install cargo-deb --version "$CARGO_DEB_VERSION" --locked
fi
cargo build --bin reportbox
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# The dev profile: the binary the test run built (cargo-deb strips it).
cargo deb --profile dev --no-build --fast --quiet -o "$out/"
deb=$(echo "$out"/reportbox_*.deb)
root=$out/root
dpkg -x "$deb" "$root"
dpkg-deb -e "$deb" "$out/DEBIAN"
fail() { echo "deb-check: $*" >&2; exit 1; }
for f in usr/bin/reportbox usr/bin/reportbox-admin usr/lib/systemd/system/reportbox.service \
    usr/lib/sysusers.d/reportbox.conf usr/lib/tmpfiles.d/reportbox.conf \
    etc/reportbox/reportbox.toml etc/reportbox/units.csv \
    etc/reportbox/templates/statistics-table-2023.xlsx \
    usr/share/doc/reportbox/README.md usr/share/doc/reportbox/reportbox.env.example; do
    [[ -f $root/$f ]] || fail "missing /$f"
done
[[ $(stat -c %a "$root/usr/bin/reportbox") == 755 ]] || fail "reportbox is not 0755"
[[ $(stat -c %a "$root/etc/reportbox/units.csv") == 640 ]] || fail "units.csv is world-readable"
grep -qx /etc/reportbox/reportbox.toml "$out/DEBIAN/conffiles" || fail "reportbox.toml is no conffile"
# Nothing surprising: no service enabled, started or restarted, no database touched.
if grep -Eq 'systemctl +(enable|start|restart)|deb-systemd-invoke|psql|reportbox +migrate' \
    "$out/DEBIAN/postinst"; then
    fail "postinst starts, enables or migrates something"
fi
sh -n "$out/DEBIAN/postinst" || fail "postinst is not valid sh"
"$root/usr/bin/reportbox" --version >/dev/null || fail "the packaged binary does not run"
# What the postinst does, into the scratch root.
mkdir -p "$root/etc"
systemd-sysusers --root="$root" >/dev/null
systemd-tmpfiles --root="$root" --create >/dev/null
grep -q '^reportbox:' "$root/etc/passwd" || fail "sysusers created no reportbox user"
[[ -d $root/var/lib/reportbox/storage ]] || fail "tmpfiles created no storage directory"
# Lint: any error fails. Accepted warnings: no manual pages (README and --help are the docs),
# cargo-deb's generated copyright file, and 0640 on the example campaign (it lists every unit's
# addresses and phones: not for every local user).
if ! command -v lintian >/dev/null; then
    apt-get install -y -q --no-install-recommends lintian >/dev/null
fi
lintian --fail-on error --tag-display-limit 0 \
    --suppress-tags no-manual-page,copyright-without-copyright-notice,non-standard-file-perm,initial-upload-closes-no-bugs \
    "$deb" || fail "lintian"
echo "deb-check: $(basename "$deb") OK ($(du -h "$deb" | cut -f1))"
