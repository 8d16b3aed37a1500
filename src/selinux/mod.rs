//! SELinux file labelling, natively: a policy's file_contexts (with its `.homedirs`,
//! `.local`, `.subs_dist` and `.subs` companions) read from the guest and matched as
//! libselinux matches it, for `selinux-relabel`, `setfiles` and `selinux-label`.

pub mod matcher;
pub mod pcre;
pub mod spec;

use matcher::{BadPattern, Labeler};
use spec::SpecError;

/// Load the spec file `path` and its companions through `read` (a guest-file reader that
/// gives `None` for a missing file).
pub fn load(
    path: &str,
    read: &dyn Fn(&str) -> Option<Vec<u8>>,
) -> Result<(Labeler, Vec<BadPattern>), SpecError> {
    let missing = |message: String| SpecError {
        file: path.to_string(),
        line: 0,
        message,
    };
    let Some(main) = read(path) else {
        return Err(missing(if read(&format!("{path}.bin")).is_some() {
            "only the compiled .bin form exists (PCRE2 bytecode); rfish reads the text file"
                .to_string()
        } else {
            "No such file or directory".to_string()
        }));
    };
    let mut specs = spec::parse(path, 0, &main)?;
    for (i, suffix) in [".homedirs", ".local"].iter().enumerate() {
        let name = format!("{path}{suffix}");
        if let Some(text) = read(&name) {
            specs.extend(spec::parse(&name, i + 1, &text)?);
        }
    }
    let subs = |suffix: &str| {
        read(&format!("{path}{suffix}"))
            .map(|t| matcher::parse_subs(&t))
            .unwrap_or_default()
    };
    Ok(Labeler::new(specs, subs(".subs_dist"), subs(".subs")))
}

/// Does `context` carry a type customizable in the policy (setfiles leaves those alone
/// without force)?
pub fn context_type(context: &str) -> Option<&str> {
    context.split(':').nth(2)
}

/// `old` with its type replaced by `new`'s (setfiles without -F keeps user, role and
/// range).
pub fn with_type_of(old: &str, new: &str) -> String {
    let mut parts: Vec<&str> = old.split(':').collect();
    match (parts.get_mut(2), context_type(new)) {
        (Some(t), Some(nt)) => *t = nt,
        _ => return new.to_string(),
    }
    parts.join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_replacement_keeps_user_role_and_range() {
        assert_eq!(
            with_type_of(
                "staff_u:object_r:user_home_t:s0:c1",
                "system_u:object_r:etc_t:s0"
            ),
            "staff_u:object_r:etc_t:s0:c1"
        );
    }

    #[test]
    fn companions_load_in_precedence_order() {
        let files = |p: &str| -> Option<Vec<u8>> {
            match p {
                "/fc" => Some(b"/a system_u:object_r:a_t:s0\n".to_vec()),
                "/fc.local" => Some(b"/a system_u:object_r:local_t:s0\n".to_vec()),
                "/fc.subs" => Some(b"/b /a\n".to_vec()),
                _ => None,
            }
        };
        let (l, bad) = load("/fc", &files).unwrap();
        assert!(bad.is_empty());
        assert_eq!(l.lookup("/a", None), Some("system_u:object_r:local_t:s0"));
        assert_eq!(l.lookup("/b", None), Some("system_u:object_r:local_t:s0"));
        let Err(e) = load("/nope", &files) else {
            panic!("a missing spec file loads")
        };
        assert!(e.message.contains("No such file"));
    }
}
