//! The shipped systemd files as systemd reads them, offline (no systemd running here): the unit
//! verifies clean and rates ≤ 2.0 in `systemd-analyze security`; sysusers.d and tmpfiles.d create
//! the user and the directories in a scratch root. deploy/testenv/up.sh installs the systemd
//! package for these tools.

mod common;

use common::repo;
use std::process::Command;

fn tool(name: &str) -> Command {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .unwrap();
    assert!(
        found.status.success(),
        "{name} is missing: deploy/testenv/up.sh installs the systemd package"
    );
    Command::new(name)
}

/// The unit with the binary where this build put it, so that verify can check the commands.
fn unit_with_this_binary(dir: &std::path::Path) -> std::path::PathBuf {
    let unit = std::fs::read_to_string(repo().join("deploy/reportbox.service")).unwrap();
    assert!(unit.contains("ExecStart=/usr/bin/reportbox run"), "{unit}");
    let path = dir.join("reportbox.service");
    std::fs::write(
        &path,
        unit.replace("/usr/bin/reportbox", env!("CARGO_BIN_EXE_reportbox")),
    )
    .unwrap();
    path
}

#[test]
fn the_unit_rates_at_most_2_in_the_offline_security_analysis() {
    let out = tool("systemd-analyze")
        .args(["security", "--offline=true", "--no-pager"])
        .arg(repo().join("deploy/reportbox.service"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let score: f64 = text
        .lines()
        .find_map(|l| {
            l.split("Overall exposure level for reportbox.service:")
                .nth(1)
        })
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no score in:\n{text}"));
    assert!(score <= 2.0, "exposure {score}:\n{text}");
}

#[test]
fn the_unit_verifies_clean() {
    let dir = tempfile::tempdir().unwrap();
    let unit = unit_with_this_binary(dir.path());
    let out = tool("systemd-analyze")
        .args(["verify", "--no-pager"])
        .arg(&unit)
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{said}");
    assert!(
        !said.contains("reportbox.service"),
        "verify has something to say about the unit:\n{said}"
    );
}

#[test]
fn sysusers_and_tmpfiles_create_the_user_and_its_directories() {
    use std::os::unix::fs::MetadataExt;
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    std::fs::create_dir_all(r.join("etc")).unwrap();
    for (from, to) in [
        ("deploy/sysusers.d/reportbox.conf", "usr/lib/sysusers.d"),
        ("deploy/tmpfiles.d/reportbox.conf", "usr/lib/tmpfiles.d"),
    ] {
        std::fs::create_dir_all(r.join(to)).unwrap();
        std::fs::copy(repo().join(from), r.join(to).join("reportbox.conf")).unwrap();
    }
    let root_arg = format!("--root={}", r.display());
    let users = tool("systemd-sysusers").arg(&root_arg).output().unwrap();
    assert!(users.status.success(), "{users:?}");
    let passwd = std::fs::read_to_string(r.join("etc/passwd")).unwrap();
    let entry = passwd
        .lines()
        .find(|l| l.starts_with("reportbox:"))
        .unwrap_or_else(|| panic!("{passwd}"));
    let fields: Vec<&str> = entry.split(':').collect();
    let uid: u32 = fields[2].parse().unwrap();
    assert!(uid < 1000, "a system user: {entry}");
    assert_eq!(fields[5], "/var/lib/reportbox");
    assert!(fields[6].ends_with("nologin"), "{entry}");
    let dirs = tool("systemd-tmpfiles")
        .arg(&root_arg)
        .arg("--create")
        .output()
        .unwrap();
    assert!(dirs.status.success(), "{dirs:?}");
    let storage = std::fs::metadata(r.join("var/lib/reportbox/storage")).unwrap();
    assert_eq!((storage.uid(), storage.mode() & 0o777), (uid, 0o700));
    let config = std::fs::metadata(r.join("etc/reportbox")).unwrap();
    assert_eq!(
        (config.uid(), config.gid(), config.mode() & 0o777),
        (0, uid, 0o750)
    );
}

/// reportbox-admin runs a command as the service does; what it sets must be what the unit sets.
#[test]
fn reportbox_admin_runs_commands_with_the_units_settings() {
    let unit = std::fs::read_to_string(repo().join("deploy/reportbox.service"))
        .unwrap()
        .replace("%S", "/var/lib");
    let admin = std::fs::read_to_string(repo().join("deploy/reportbox-admin")).unwrap();
    let properties: Vec<&str> = admin
        .split_whitespace()
        .filter_map(|w| w.strip_prefix("--property="))
        .collect();
    assert!(properties.len() >= 8, "{admin}");
    for p in properties {
        assert!(
            unit.lines().any(|l| l == p),
            "reportbox-admin sets {p}, the unit does not"
        );
    }
}

/// deploy/install.sh into a scratch root, twice: the second run changes nothing and keeps the
/// configuration ops edited.
#[test]
fn install_sh_is_idempotent_and_keeps_edited_configuration() {
    use std::os::unix::fs::MetadataExt;
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let install = || {
        let out = Command::new(repo().join("deploy/install.sh"))
            .arg(env!("CARGO_BIN_EXE_reportbox"))
            .env("ROOT", r)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let first = install();
    assert!(first.contains("created"), "{first}");
    let toml = r.join("etc/reportbox/reportbox.toml");
    std::fs::write(&toml, "# edited by ops\n").unwrap();
    let second = install();
    assert!(!second.contains("created"), "{second}");
    assert_eq!(std::fs::read_to_string(&toml).unwrap(), "# edited by ops\n");
    let unit = std::fs::read_to_string(r.join("etc/systemd/system/reportbox.service")).unwrap();
    assert!(
        unit.contains("ExecStart=/usr/local/bin/reportbox run"),
        "{unit}"
    );
    assert!(r.join("usr/local/bin/reportbox").is_file());
    let passwd = std::fs::read_to_string(r.join("etc/passwd")).unwrap();
    assert_eq!(
        passwd
            .lines()
            .filter(|l| l.starts_with("reportbox:"))
            .count(),
        1,
        "{passwd}"
    );
    let env = std::fs::metadata(r.join("etc/reportbox/reportbox.env")).unwrap();
    assert_eq!(env.mode() & 0o777, 0o600, "the database password is root's");
    let units = std::fs::metadata(r.join("etc/reportbox/units.csv")).unwrap();
    assert_eq!(units.mode() & 0o007, 0, "not world-readable");
}
