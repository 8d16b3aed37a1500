//! Which distribution a Linux root holds, from its release files, tried in libguestfs'
//! order (daemon/inspect_fs_unix.ml `linux_root_tests`): the first file that exists and
//! parses wins. os-release is first, but Debian's and CentOS's give only a major version,
//! so those fall through to /etc/debian_version or /etc/centos-release.

use regex::Regex;

use super::small_file;
use crate::fs::FileType;
use crate::fs::vfs::Vfs;

/// What the release files said.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Release {
    /// libguestfs' distro name.
    pub distro: Option<String>,
    /// Product name.
    pub product_name: Option<String>,
    /// (major, minor).
    pub version: Option<(i64, i64)>,
}

/// Remove shell quoting from an os-release value.
pub fn unquote(v: &str) -> String {
    let v = v.trim();
    let inner = if v.len() >= 2
        && ((v.starts_with('"') && v.ends_with('"')) || (v.starts_with('\'') && v.ends_with('\'')))
    {
        &v[1..v.len() - 1]
    } else {
        v
    };
    crate::bytes::unbackslash(inner)
}

/// libguestfs' parse_version_from_major_minor: `N.M` anywhere, else `N`.
fn version_of(s: &str) -> Option<(i64, i64)> {
    let mm = Regex::new(r"(\d+)\.(\d+)").expect("static regex");
    if let Some(c) = mm.captures(s) {
        return Some((c[1].parse().ok()?, c[2].parse().ok()?));
    }
    let m = Regex::new(r"(\d+)").expect("static regex");
    m.captures(s).and_then(|c| Some((c[1].parse().ok()?, 0)))
}

fn os_release_distro(id: &str) -> Option<&'static str> {
    Some(match id {
        "alpine" => "alpinelinux",
        "altlinux" => "altlinux",
        "arch" => "archlinux",
        "centos" => "centos",
        "coreos" => "coreos",
        "debian" => "debian",
        "fedora" => "fedora",
        "frugalware" => "frugalware",
        "kali" => "kalilinux",
        "mageia" => "mageia",
        "neokylin" => "neokylin",
        "opensuse" => "opensuse",
        s if s.starts_with("opensuse-") => "opensuse",
        "pld" => "pldlinux",
        "rhel" => "rhel",
        "sles" | "sled" => "sles",
        "ubuntu" => "ubuntu",
        "void" => "voidlinux",
        "rocky" => "rocky",
        _ => return None,
    })
}

fn lines(vfs: &Vfs, path: &str) -> Option<Vec<String>> {
    let data = small_file(vfs, path)?;
    Some(
        String::from_utf8_lossy(&data)
            .lines()
            .map(str::to_string)
            .collect(),
    )
}

fn parse_os_release(vfs: &Vfs, path: &str, r: &mut Release) -> bool {
    let Some(lines) = lines(vfs, path) else {
        return false;
    };
    for line in lines {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let v = unquote(v);
        match k.trim() {
            "ID" => {
                if let Some(d) = os_release_distro(&v) {
                    r.distro = Some(d.into());
                }
            }
            "PRETTY_NAME" => r.product_name = Some(v),
            "VERSION_ID" => {
                if let Some(ver) = version_of(&v) {
                    r.version = Some(ver);
                }
            }
            _ => {}
        }
    }
    if r.distro.is_none() || r.product_name.is_none() {
        return false;
    }
    match (r.distro.as_deref(), r.version) {
        (Some("debian" | "centos"), Some((_, 0))) => false,
        (Some("voidlinux"), None) => {
            r.version = Some((0, 0));
            true
        }
        (_, None) => false,
        _ => true,
    }
}

fn parse_lsb_release(vfs: &Vfs, path: &str, r: &mut Release) -> bool {
    let Some(lines) = lines(vfs, path) else {
        return false;
    };
    let mut ok = false;
    for line in lines {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let v = unquote(v);
        match k {
            "DISTRIB_ID" => {
                let d = match v.as_str() {
                    "CoreOS" => Some("coreos"),
                    "LinuxMint" => Some("linuxmint"),
                    "Mageia" => Some("mageia"),
                    "Ubuntu" => Some("ubuntu"),
                    _ => None,
                };
                if let Some(d) = d {
                    ok = true;
                    r.distro = Some(d.into());
                }
            }
            "DISTRIB_RELEASE" => {
                if let Some(ver) = version_of(&v) {
                    r.version = Some(ver);
                }
            }
            "DISTRIB_DESCRIPTION" => {
                ok = true;
                r.product_name = Some(v);
            }
            _ => {}
        }
    }
    ok
}

/// A generic release file: its first line is the product name; with a pattern, the
/// pattern must match and gives the version.
fn parse_generic(vfs: &Vfs, path: &str, distro: &str, rex: Option<&str>, r: &mut Release) -> bool {
    let Some(first) = lines(vfs, path).and_then(|l| l.into_iter().next()) else {
        return false;
    };
    if first.is_empty() {
        return false;
    }
    r.product_name = Some(first.clone());
    r.distro = Some(distro.into());
    match rex {
        Some(rex) => {
            let re = Regex::new(rex).expect("static regex");
            let Some(c) = re.captures(&first) else {
                return false;
            };
            let major = c.get(1).and_then(|m| m.as_str().parse().ok());
            let minor = c.get(2).and_then(|m| m.as_str().parse().ok());
            if let Some(major) = major {
                r.version = Some((major, minor.unwrap_or(0)));
            }
            true
        }
        None => {
            if let Some(v) = version_of(&first) {
                r.version = Some(v);
            }
            true
        }
    }
}

/// Run libguestfs' Linux release-file tests.
pub fn detect(vfs: &Vfs) -> Release {
    type Test = (&'static str, &'static str, Option<&'static str>);
    // (file, distro for parse_generic, pattern); "" distro = special parser.
    const TESTS: &[Test] = &[
        (
            "/etc/oracle-release",
            "oraclelinux",
            Some(r"Oracle Linux.*release (\d+).*Update (\d+)"),
        ),
        (
            "/etc/oracle-release",
            "oraclelinux",
            Some(r"Oracle Linux.*release (\d+)\.(\d+)"),
        ),
        (
            "/etc/oracle-release",
            "oraclelinux",
            Some(r"Oracle Linux.*release (\d+)"),
        ),
        (
            "/etc/centos-release",
            "centos",
            Some(r"CentOS.*release (\d+).*Update (\d+)"),
        ),
        (
            "/etc/centos-release",
            "centos",
            Some(r"CentOS.*release (\d+)\.(\d+)"),
        ),
        (
            "/etc/centos-release",
            "centos",
            Some(r"CentOS.*release (\d+)"),
        ),
        ("/etc/altlinux-release", "altlinux", None),
        (
            "/etc/redhat-release",
            "fedora",
            Some(r"Fedora release (\d+)"),
        ),
        (
            "/etc/redhat-release",
            "rhel",
            Some(r"Red Hat.*release (\d+).*Update (\d+)"),
        ),
        (
            "/etc/redhat-release",
            "rhel",
            Some(r"Red Hat.*release (\d+)\.(\d+)"),
        ),
        (
            "/etc/redhat-release",
            "rhel",
            Some(r"Red Hat.*release (\d+)"),
        ),
        (
            "/etc/redhat-release",
            "centos",
            Some(r"CentOS.*release (\d+).*Update (\d+)"),
        ),
        (
            "/etc/redhat-release",
            "centos",
            Some(r"CentOS.*release (\d+)\.(\d+)"),
        ),
        (
            "/etc/redhat-release",
            "centos",
            Some(r"CentOS.*release (\d+)"),
        ),
        (
            "/etc/redhat-release",
            "scientificlinux",
            Some(r"Scientific Linux.*release (\d+).*Update (\d+)"),
        ),
        (
            "/etc/redhat-release",
            "scientificlinux",
            Some(r"Scientific Linux.*release (\d+)\.(\d+)"),
        ),
        (
            "/etc/redhat-release",
            "scientificlinux",
            Some(r"Scientific Linux.*release (\d+)"),
        ),
        ("/etc/redhat-release", "redhat-based", None),
        ("/etc/debian_version", "debian", None),
        ("/etc/pardus-release", "pardus", None),
        ("/etc/gentoo-release", "gentoo", None),
        ("/etc/meego-release", "meego", None),
        ("/etc/slackware-version", "slackware", None),
        ("/etc/ttylinux-target", "ttylinux", None),
        ("/etc/alpine-release", "alpinelinux", None),
        (
            "/etc/frugalware-release",
            "frugalware",
            Some(r"Frugalware (\d+)\.(\d+)"),
        ),
        (
            "/etc/pld-release",
            "pldlinux",
            Some(r"(\d+)\.(\d+) PLD Linux"),
        ),
    ];
    let mut r = Release::default();
    let exists = |p: &str| super::kind(vfs, p, true) == Some(FileType::Regular);
    if exists("/etc/os-release") && parse_os_release(vfs, "/etc/os-release", &mut r) {
        return r;
    }
    if exists("/etc/lsb-release") && parse_lsb_release(vfs, "/etc/lsb-release", &mut r) {
        return r;
    }
    for (i, (file, distro, rex)) in TESTS.iter().enumerate() {
        if !exists(file) {
            continue;
        }
        if parse_generic(vfs, file, distro, *rex, &mut r) {
            return r;
        }
        // After the last redhat-release pattern: a Red Hat-based distro of some kind.
        if *file == "/etc/redhat-release" && TESTS.get(i + 1).is_some_and(|t| t.0 != *file) {
            r.distro = Some("redhat-based".into());
            return r;
        }
    }
    if exists("/etc/arch-release") {
        r.distro = Some("archlinux".into());
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_and_quotes() {
        assert_eq!(version_of("12.7"), Some((12, 7)));
        assert_eq!(version_of("bookworm/sid 12"), Some((12, 0)));
        assert_eq!(version_of("none"), None);
        assert_eq!(
            unquote("\"Debian GNU/Linux 12 (bookworm)\""),
            "Debian GNU/Linux 12 (bookworm)"
        );
        assert_eq!(unquote("'a\\'b'"), "a'b");
    }
}
