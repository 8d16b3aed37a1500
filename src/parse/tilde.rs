//! `~` and `~user` expansion of bare arguments (guestfish's fish/tilde.c): `~` and `~/...` use
//! `$HOME` (or the password database entry of the current user), `~user/...` that user's home
//! directory; an unknown user leaves the word unchanged.

use std::os::unix::ffi::OsStrExt;

use nix::unistd::{Uid, User};

/// Expand a leading `~` or `~user` in `word`, or return it unchanged.
pub fn expand_tilde(word: &[u8]) -> Vec<u8> {
    let Some(after) = word.strip_prefix(b"~") else {
        return word.to_vec();
    };
    let name_len = after.iter().position(|&c| c == b'/').unwrap_or(after.len());
    let (name, rest) = after.split_at(name_len);
    let home = if name.is_empty() {
        current_home()
    } else {
        std::str::from_utf8(name)
            .ok()
            .and_then(|name| User::from_name(name).ok().flatten())
            .map(|user| user.dir.into_os_string())
    };
    match home {
        Some(home) => {
            let mut out = home.as_bytes().to_vec();
            out.extend_from_slice(rest);
            out
        }
        None => word.to_vec(),
    }
}

fn current_home() -> Option<std::ffi::OsString> {
    crate::hostenv::get("HOME").or_else(|| {
        User::from_uid(Uid::effective())
            .ok()
            .flatten()
            .map(|user| user.dir.into_os_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_without_tilde_are_unchanged() {
        assert_eq!(expand_tilde(b"/etc"), b"/etc");
        assert_eq!(expand_tilde(b"a~b"), b"a~b");
    }

    #[test]
    fn unknown_users_are_left_alone() {
        assert_eq!(
            expand_tilde(b"~no-such-user-rfish/x"),
            b"~no-such-user-rfish/x"
        );
    }

    #[test]
    fn root_home_comes_from_the_password_database() {
        let root = User::from_name("root").ok().flatten().expect("root exists");
        let mut want = root.dir.as_os_str().as_bytes().to_vec();
        want.extend_from_slice(b"/x");
        assert_eq!(expand_tilde(b"~root/x"), want);
    }
}
