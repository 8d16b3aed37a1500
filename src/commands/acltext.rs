//! POSIX ACLs in text form (acl(5): `user::rw-`, `user:alice:r--`, `group::r-x`,
//! `mask::r-x`, `other::---`, separated by commas or newlines, `#` comments), as GNU
//! tar's `--acls` stores them, turned into the kernel's xattr format. Named users and
//! groups are looked up in the guest's /etc/passwd and /etc/group (numbers pass through).

use std::collections::HashMap;

/// Names to ids from a passwd- or group-format file.
pub fn id_map(text: &[u8]) -> HashMap<String, u32> {
    String::from_utf8_lossy(text)
        .lines()
        .filter_map(|l| {
            let mut f = l.split(':');
            let name = f.next()?.to_string();
            let id = f.nth(1)?.parse().ok()?;
            Some((name, id))
        })
        .collect()
}

/// Why an ACL text was not converted.
#[derive(Debug, PartialEq, Eq)]
pub enum AclTextError {
    /// Malformed entry.
    Syntax(String),
    /// A name neither number nor known to the guest.
    UnknownName(String),
}

/// Convert `text` to the xattr format (version 2; entries of tag, perm, id).
pub fn to_xattr(
    text: &[u8],
    users: &HashMap<String, u32>,
    groups: &HashMap<String, u32>,
) -> Result<Vec<u8>, AclTextError> {
    let text = String::from_utf8_lossy(text);
    let mut out = 2u32.to_le_bytes().to_vec();
    for raw in text.split([',', '\n']) {
        let entry = raw.split('#').next().unwrap_or("").trim();
        if entry.is_empty() {
            continue;
        }
        let mut f = entry.split(':');
        let (tag, qual, perm) = match (f.next(), f.next(), f.next(), f.next()) {
            (Some(t), Some(q), Some(p), None) => (t, q, p),
            // other and mask may be written with a single colon.
            (Some(t), Some(p), None, None) => (t, "", p),
            _ => return Err(AclTextError::Syntax(entry.to_string())),
        };
        let named = !qual.is_empty();
        let (tag, map) = match (tag, named) {
            ("user" | "u", false) => (0x01u16, None),
            ("user" | "u", true) => (0x02, Some(users)),
            ("group" | "g", false) => (0x04, None),
            ("group" | "g", true) => (0x08, Some(groups)),
            ("mask" | "m", false) => (0x10, None),
            ("other" | "o", false) => (0x20, None),
            _ => return Err(AclTextError::Syntax(entry.to_string())),
        };
        let id = match map {
            None => u32::MAX,
            Some(m) => match qual.parse::<u32>() {
                Ok(n) => n,
                Err(_) => *m
                    .get(qual)
                    .ok_or_else(|| AclTextError::UnknownName(qual.to_string()))?,
            },
        };
        let mut bits = 0u16;
        for c in perm.chars() {
            bits |= match c {
                'r' => 4,
                'w' => 2,
                'x' | 'X' => 1,
                '-' => 0,
                _ => return Err(AclTextError::Syntax(entry.to_string())),
            };
        }
        out.extend_from_slice(&tag.to_le_bytes());
        out.extend_from_slice(&bits.to_le_bytes());
        out.extend_from_slice(&id.to_le_bytes());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gnu_tar_acl_text_converts_with_guest_names() {
        let users = id_map(b"root:x:0:0::/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n");
        let groups = id_map(b"staff:x:50:\n");
        let x = to_xattr(
            b"user::rw-\nuser:alice:r--\ngroup::r--\ngroup:staff:rw-\nmask::rw-\nother::r--",
            &users,
            &groups,
        )
        .unwrap();
        assert_eq!(x.len(), 4 + 6 * 8);
        assert_eq!(&x[12..20], &[2, 0, 4, 0, 0xe8, 3, 0, 0]);
        assert_eq!(&x[28..36], &[8, 0, 6, 0, 50, 0, 0, 0]);
        assert_eq!(
            to_xattr(b"user:bob:r--", &users, &groups),
            Err(AclTextError::UnknownName("bob".into()))
        );
        assert!(to_xattr(b"user::rwq", &users, &groups).is_err());
    }
}
