#!/usr/bin/env bash
# Installs reportbox on a systemd machine without the Debian package (which is the same files:
# see [package.metadata.deb] in Cargo.toml). Idempotent: run it again to upgrade the binary and
# the unit; the configuration under /etc/reportbox is created once and never overwritten.
#   cargo build --release && sudo deploy/install.sh [BINARY]     (default target/release/reportbox)
# ROOT=/some/dir installs into a scratch root instead of / (for tests); nothing is reloaded then.
# It does not enable, start or restart the service and does not touch the database.
set -euo pipefail
cd "$(dirname "$0")/.."
BINARY=${1:-target/release/reportbox}
ROOT=${ROOT:-}
[[ -x $BINARY ]] || { echo "install.sh: no binary at $BINARY (cargo build --release)" >&2; exit 1; }
[[ -n $ROOT || $(id -u) -eq 0 ]] || { echo "install.sh: run as root" >&2; exit 1; }
BIN=/usr/local/bin

install -d "$ROOT$BIN" "$ROOT/etc/systemd/system" "$ROOT/etc/sysusers.d" "$ROOT/etc/tmpfiles.d" \
    "$ROOT/usr/local/share/doc/reportbox"
install -m 0755 "$BINARY" "$ROOT$BIN/reportbox"
sed "s#/usr/bin/reportbox#$BIN/reportbox#g" deploy/reportbox-admin >"$ROOT$BIN/reportbox-admin.new"
chmod 0755 "$ROOT$BIN/reportbox-admin.new"
mv "$ROOT$BIN/reportbox-admin.new" "$ROOT$BIN/reportbox-admin"
sed "s#/usr/bin/reportbox#$BIN/reportbox#g; s#/usr/share/doc/reportbox#/usr/local/share/doc/reportbox#g" \
    deploy/reportbox.service >"$ROOT/etc/systemd/system/reportbox.service.new"
chmod 0644 "$ROOT/etc/systemd/system/reportbox.service.new"
mv "$ROOT/etc/systemd/system/reportbox.service.new" "$ROOT/etc/systemd/system/reportbox.service"
install -m 0644 deploy/sysusers.d/reportbox.conf "$ROOT/etc/sysusers.d/reportbox.conf"
install -m 0644 deploy/tmpfiles.d/reportbox.conf "$ROOT/etc/tmpfiles.d/reportbox.conf"
install -m 0644 README.md deploy/reportbox.env.example "$ROOT/usr/local/share/doc/reportbox/"

if [[ -n $ROOT ]]; then
    install -d "$ROOT/etc"
    systemd-sysusers --root="$ROOT" >/dev/null
    systemd-tmpfiles --root="$ROOT" --create >/dev/null
else
    systemd-sysusers reportbox.conf
    systemd-tmpfiles --create reportbox.conf
fi

# The campaign: only when absent, so that local edits survive every upgrade.
conf=$ROOT/etc/reportbox
copy_once() { # source, destination, mode
    if [[ ! -e $2 ]]; then
        install -D -m "$3" "$1" "$2"
        chgrp "$(awk -F: '$1 == "reportbox" { print $3 }' "$ROOT/etc/group")" "$2"
        echo "created $2"
    fi
}
copy_once config/reportbox.toml "$conf/reportbox.toml" 0640
copy_once config/units.csv "$conf/units.csv" 0640
copy_once config/templates/statistics-table-2023.xlsx "$conf/templates/statistics-table-2023.xlsx" 0640
if [[ ! -e $conf/reportbox.env ]]; then
    install -m 0600 deploy/reportbox.env.example "$conf/reportbox.env"
    echo "created $conf/reportbox.env (edit REPORTBOX_DATABASE__URL)"
fi

if [[ -z $ROOT && -d /run/systemd/system ]]; then
    systemctl daemon-reload
fi
echo "reportbox installed in $ROOT$BIN. Next (README.md, \"Operations\"): edit $conf, write the"
echo "authorisation code to $conf/mailbox-password (mode 0600), reportbox-admin check, reportbox-admin migrate,"
echo "systemctl enable --now reportbox"
