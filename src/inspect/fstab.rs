//! /etc/fstab of an inspected root, its device names resolved to rfish's (libguestfs'
//! daemon/inspect_fs_unix_fstab.ml): UUID=, LABEL=, PARTUUID=, PARTLABEL= and
//! /dev/disk/by-* through the probed filesystems, `/dev/root` as the root itself,
//! `/dev/[hsv]dXN` and `/dev/xvdXN` by drive index, `/dev/mapper/VG-LV` as `/dev/VG/LV`.
//! Entries that do not resolve, swap, and pseudo or removable filesystems are dropped.

use super::release::unquote;
use super::{Candidate, small_file};
use crate::fs::vfs::Vfs;

/// Undo fstab's octal escapes (`\040` for a space).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push(((b[i + 1] - b'0') << 6) | ((b[i + 2] - b'0') << 3) | (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The device a fstab spec names, if any of ours.
pub fn resolve(spec: &str, root: &str, candidates: &[Candidate]) -> Option<String> {
    let by = |key: &str, value: &str| {
        candidates
            .iter()
            .find(|c| c.get(key).is_some_and(|v| v.eq_ignore_ascii_case(value)))
            .map(|c| c.name.clone())
    };
    let by_gpt = |unique: bool, value: &str| {
        candidates
            .iter()
            .find(|c| {
                c.gpt.as_ref().is_some_and(|(guid, name)| {
                    if unique {
                        guid.eq_ignore_ascii_case(value)
                    } else {
                        name == value
                    }
                })
            })
            .map(|c| c.name.clone())
    };
    if let Some(v) = spec.strip_prefix("UUID=") {
        return by("UUID", &unquote(v));
    }
    if let Some(v) = spec.strip_prefix("LABEL=") {
        return by("LABEL", &unquote(v));
    }
    if let Some(v) = spec.strip_prefix("PARTUUID=") {
        return by_gpt(true, &unquote(v));
    }
    if let Some(v) = spec.strip_prefix("PARTLABEL=") {
        return by_gpt(false, &unquote(v));
    }
    if let Some(v) = spec.strip_prefix("/dev/disk/by-uuid/") {
        return by("UUID", v);
    }
    if let Some(v) = spec.strip_prefix("/dev/disk/by-label/") {
        return by("LABEL", v);
    }
    if let Some(v) = spec.strip_prefix("/dev/disk/by-partuuid/") {
        return by_gpt(true, v);
    }
    if let Some(v) = spec.strip_prefix("/dev/disk/by-partlabel/") {
        return by_gpt(false, v);
    }
    if spec == "/dev/root" {
        return Some(root.to_string());
    }
    if let Some(rest) = spec.strip_prefix("/dev/mapper/") {
        // VG-LV, with "--" standing for a "-" inside a name.
        let chars: Vec<char> = rest.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            if chars[i] == '-' {
                if chars.get(i + 1) == Some(&'-') {
                    i += 2;
                    continue;
                }
                let vg: String = chars[..i].iter().collect::<String>().replace("--", "-");
                let lv: String = chars[i + 1..].iter().collect::<String>().replace("--", "-");
                let name = format!("/dev/{vg}/{lv}");
                return candidates.iter().any(|c| c.name == name).then_some(name);
            }
            i += 1;
        }
        return None;
    }
    candidates
        .iter()
        .any(|c| c.name == spec)
        .then(|| spec.to_string())
}

/// Canonical form of an fstab path: no repeated or trailing slashes.
fn canonical_path(p: &str) -> String {
    let parts: Vec<&str> = p.split('/').filter(|c| !c.is_empty()).collect();
    if p.starts_with('/') {
        format!("/{}", parts.join("/"))
    } else {
        parts.join("/")
    }
}

/// The root's fstab as libguestfs reads it: (device, mountpoint) pairs, in the order
/// libguestfs returns them (the reverse of the file's). Entries for floppies, CD-ROMs and
/// pseudo filesystems, and UUID=/LABEL= specs that match nothing, are dropped; other
/// `/dev/` names that match no device are kept as written. Swap entries stay (their
/// mountpoint does not start with `/`, so only inspect-get-filesystems shows them).
pub fn entries(vfs: &Vfs, root: &str, candidates: &[Candidate]) -> Vec<(String, String)> {
    let Some(data) = small_file(vfs, "/etc/fstab") else {
        return Vec::new();
    };
    let mut out: Vec<(String, String)> = Vec::new();
    for line in String::from_utf8_lossy(&data).lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 3 {
            continue;
        }
        let (spec, mp) = (unescape(f[0]), canonical_path(&unescape(f[1])));
        let removable = |prefix: &str| {
            spec.strip_prefix(prefix)
                .is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit()))
        };
        if removable("/dev/fd")
            || removable("/dev/cd")
            || spec == "/dev/floppy"
            || spec == "/dev/cdrom"
            || spec.starts_with("/dev/iso9660/")
        {
            continue;
        }
        if ["/dev", "/proc", "/selinux", "/sys"]
            .iter()
            .any(|p| mp == *p || mp.starts_with(&format!("{p}/")))
            || mp.starts_with("/media/")
        {
            continue;
        }
        let keyed = ["UUID=", "LABEL=", "PARTUUID=", "PARTLABEL="]
            .iter()
            .any(|k| spec.starts_with(k));
        let dev = if keyed || spec == "/dev/root" {
            match resolve(&spec, root, candidates) {
                Some(d) => d,
                None => continue,
            }
        } else if spec.starts_with("/dev/") {
            resolve(&spec, root, candidates)
                .unwrap_or_else(|| xdev(&spec, candidates).unwrap_or(spec.clone()))
        } else {
            continue;
        };
        if mp == "/" && out.iter().any(|(_, m)| m == "/") {
            continue;
        }
        out.push((dev, mp));
    }
    out.reverse();
    out
}

/// `/dev/(h|s|v|xv)dX[N]` names the guest's Xth disk: rfish's drive with that index, even
/// when the partition does not exist (libguestfs' resolve_xdev).
fn xdev(spec: &str, candidates: &[Candidate]) -> Option<String> {
    let rest = spec.strip_prefix("/dev/")?;
    let rest = ["xvd", "hd", "sd", "vd"]
        .iter()
        .find_map(|p| rest.strip_prefix(p))?;
    let letters: String = rest
        .chars()
        .take_while(|c| c.is_ascii_lowercase())
        .collect();
    let part = &rest[letters.len()..];
    if letters.is_empty() || !part.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let index = letters
        .bytes()
        .fold(0usize, |n, c| n * 26 + usize::from(c - b'a') + 1)
        - 1;
    let drive = crate::part::drive_name(index);
    candidates
        .iter()
        .any(|c| c.name.starts_with(&drive))
        .then(|| format!("{drive}{part}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn octal_escapes() {
        assert_eq!(unescape("/mnt/my\\040disk"), "/mnt/my disk");
        assert_eq!(unescape("plain"), "plain");
    }
}
