//! file_contexts regexes are PCRE2; rfish matches them with the regex crate. The two agree
//! on what policies use (literals, `.`, classes, groups, alternation, `*` `+` `?` `{m,n}`)
//! once a few spellings are rewritten: `\<` and `\>` are literal characters in PCRE but
//! word boundaries in the regex crate, a `{` that starts no quantifier is literal in PCRE,
//! and inside a class PCRE reads `[`, `&&`, `--` and `~~` literally. Matching is on bytes
//! with `.` matching every byte (libselinux compiles with PCRE2_DOTALL), anchored at both
//! ends as libselinux anchors it.

/// The pattern as regex-crate syntax, anchored: `(?s-u)^(?:...)$`.
pub fn translate(pcre: &str) -> String {
    let b = pcre.as_bytes();
    let mut out = String::with_capacity(pcre.len() + 16);
    out.push_str("(?s-u)^(?:");
    let mut i = 0;
    let mut in_class = false;
    let mut class_start = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'\\' && i + 1 < b.len() {
            let n = b[i + 1];
            if n.is_ascii_alphanumeric() {
                out.push('\\');
                out.push(n as char);
            } else {
                out.push_str(&regex_escape(n));
            }
            i += 2;
            continue;
        }
        if in_class {
            match c {
                b']' if i > class_start => {
                    in_class = false;
                    out.push(']');
                }
                b'[' if b.get(i + 1) == Some(&b':') => {
                    // A POSIX class such as [:alpha:]: copy through its closing ":]".
                    let end = pcre[i..].find(":]").map_or(b.len(), |e| i + e + 2);
                    out.push_str(&pcre[i..end]);
                    i = end;
                    continue;
                }
                b'[' | b'&' | b'~' => out.push_str(&regex_escape(c)),
                b'-' if b.get(i + 1) == Some(&b'-') => out.push_str("\\-"),
                _ => push_byte(&mut out, c),
            }
            i += 1;
            continue;
        }
        match c {
            b'[' => {
                in_class = true;
                out.push('[');
                i += 1;
                if b.get(i) == Some(&b'^') {
                    out.push('^');
                    i += 1;
                }
                // A ']' first in a class is literal in both dialects.
                class_start = i + usize::from(b.get(i) == Some(&b']'));
                if class_start > i {
                    out.push_str("\\]");
                    i += 1;
                }
                continue;
            }
            b'{' => {
                if let Some(len) = quantifier_len(&b[i..]) {
                    // A quantifier: copied whole.
                    out.push_str(&pcre[i..i + len]);
                    i += len;
                    continue;
                }
                out.push_str("\\{");
            }
            b'}' => out.push_str("\\}"),
            _ => push_byte(&mut out, c),
        }
        i += 1;
    }
    out.push_str(")$");
    out
}

/// Length of a `{m}`, `{m,}` or `{m,n}` quantifier at the start of `b`, if it is one.
fn quantifier_len(b: &[u8]) -> Option<usize> {
    let end = b.iter().position(|&c| c == b'}')?;
    let inner = &b[1..end];
    let mut parts = inner.splitn(2, |&c| c == b',');
    let m = parts.next()?;
    let ok_m = !m.is_empty() && m.iter().all(u8::is_ascii_digit);
    let ok_n = parts
        .next()
        .is_none_or(|n| n.iter().all(u8::is_ascii_digit));
    (ok_m && ok_n).then_some(end + 1)
}

fn regex_escape(c: u8) -> String {
    if c.is_ascii() {
        regex::escape(&(c as char).to_string())
    } else {
        format!("\\x{c:02x}")
    }
}

fn push_byte(out: &mut String, c: u8) {
    if c.is_ascii() {
        out.push(c as char);
    } else {
        out.push_str(&format!("\\x{c:02x}"));
    }
}

/// The literal text every match of `pcre` starts with (empty when an alternation at the
/// top level or an optional first character makes that unknowable).
pub fn literal_prefix(pcre: &str) -> String {
    let b = pcre.as_bytes();
    let mut depth = 0i32;
    for (i, &c) in b.iter().enumerate() {
        match c {
            b'\\' => {}
            b'(' => depth += 1,
            b')' => depth -= 1,
            b'|' if depth == 0 && (i == 0 || b[i - 1] != b'\\') => return String::new(),
            _ => {}
        }
    }
    let mut out = String::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b'\\' if i + 1 < b.len() && !b[i + 1].is_ascii_alphanumeric() => {
                let next = b.get(i + 2).copied();
                if matches!(next, Some(b'?' | b'*' | b'{')) {
                    break;
                }
                out.push(b[i + 1] as char);
                i += 2;
            }
            b'.' | b'^' | b'$' | b'?' | b'*' | b'+' | b'|' | b'[' | b'(' | b'{' | b'\\' => break,
            _ => {
                let next = b.get(i + 1).copied();
                if matches!(next, Some(b'?' | b'*' | b'{')) {
                    break;
                }
                if !c.is_ascii() {
                    break;
                }
                out.push(c as char);
                i += 1;
            }
        }
    }
    out
}

/// Does the spec have regex metacharacters (libselinux's `spec_hasMetaChars`; a
/// backslash-escaped character is not one)?
pub fn has_meta(pcre: &str) -> bool {
    let b = pcre.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'.' | b'^' | b'$' | b'?' | b'*' | b'+' | b'|' | b'[' | b'(' | b'{' => return true,
            b'\\' => i += 1,
            _ => {}
        }
        i += 1;
    }
    false
}

/// A literal spec's text with its escapes removed.
pub fn unescape(pcre: &str) -> String {
    crate::bytes::unbackslash(pcre)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pcre: &str, s: &str) -> bool {
        regex::bytes::Regex::new(&translate(pcre))
            .unwrap()
            .is_match(s.as_bytes())
    }

    #[test]
    fn pcre_spellings_keep_their_meaning() {
        assert!(matches("/etc(/.*)?", "/etc/passwd"));
        assert!(matches("/etc(/.*)?", "/etc"));
        assert!(!matches("/etc(/.*)?", "/etcx"));
        assert!(matches("/a\\<b\\>", "/a<b>"));
        assert!(matches("/x{y}", "/x{y}"));
        assert!(matches("/x{2}", "/xx"));
        assert!(matches("/[[]a", "/[a"));
        assert!(matches("/[^/]*\\.so(\\.[^/]*)*", "/libc.so.6"));
        assert!(matches("/usr/lib/[[:alpha:]]+", "/usr/lib/abc"));
        assert!(matches("/a.b", "/a\nb"));
    }

    #[test]
    fn prefixes_and_literals() {
        assert_eq!(literal_prefix("/usr/lib64?/foo"), "/usr/lib6");
        assert_eq!(literal_prefix("/usr/s?bin/x"), "/usr/");
        assert_eq!(literal_prefix("/etc/foo\\.conf.*"), "/etc/foo.conf");
        assert_eq!(literal_prefix("/a|/b"), "");
        assert!(!has_meta("/etc/foo\\.conf"));
        assert!(has_meta("/etc(/.*)?"));
        assert_eq!(unescape("/etc/foo\\.conf"), "/etc/foo.conf");
    }
}
