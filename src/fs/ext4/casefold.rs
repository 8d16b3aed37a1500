//! Names in casefolded directories (the casefold feature with the utf8 encoding): Linux
//! compares and hashes them by their `nfdicf` form — full Unicode case folding
//! (CaseFolding.txt, statuses C and F: `ß` → `ss`, `ﬁ` → `fi`, `İ` → `i̇`) followed by
//! canonical decomposition with canonical ordering (NFD), so `Straße`, `STRASSE` and
//! `strasse` are one name, and so are a precomposed and a decomposed `é`. The encoding is
//! Unicode 12.1: a code point it does not know (assigned later, or never) is kept as it
//! is and treated as a starter (canonical reordering does not cross it); a name that is
//! not valid UTF-8 is compared and hashed as its bytes, as the kernel does outside strict
//! mode.

use unicode_normalization::UnicodeNormalization;

/// The casefolded form of `name`, or `None` when it is not UTF-8.
pub fn fold(name: &[u8]) -> Option<Vec<u8>> {
    let s = std::str::from_utf8(name).ok()?;
    let mut out = String::with_capacity(s.len());
    let mut known = String::new();
    let flush = |known: &mut String, out: &mut String| {
        out.extend(caseless::default_case_fold_str(known).nfd());
        known.clear();
    };
    for c in s.chars() {
        if super::unicode_12_1::assigned(c) {
            known.push(c);
        } else {
            flush(&mut known, &mut out);
            out.push(c);
        }
    }
    flush(&mut known, &mut out);
    Some(out.into_bytes())
}

/// The bytes the directory hash is computed over in a casefolded directory.
pub fn hash_input(name: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    match fold(name) {
        Some(f) => std::borrow::Cow::Owned(f),
        None => std::borrow::Cow::Borrowed(name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_folding_then_decomposition() {
        let f = |s: &str| fold(s.as_bytes()).map(|v| String::from_utf8(v).unwrap());
        assert_eq!(f("Straße"), f("STRASSE"));
        assert_eq!(f("ﬁle"), f("FILE"));
        assert_eq!(f("Café"), f("cafe\u{301}"));
        assert_eq!(f("\u{212B}"), f("å")); // ANGSTROM SIGN
        assert_eq!(f("a\u{323}\u{301}"), f("A\u{301}\u{323}")); // canonical order
        assert_ne!(f("é"), f("e"));
        assert_eq!(fold(b"\xff\xfe"), None);
        // Unicode 14 and unassigned code points pass through; the rest still folds.
        assert_eq!(f("Hello\u{1FAE0}").unwrap(), "hello\u{1FAE0}");
        assert_eq!(f("\u{2C2F}A").unwrap(), "\u{2C2F}a");
        // A combining mark does not move across an unknown starter.
        assert_eq!(f("e\u{50000}\u{301}").unwrap(), "e\u{50000}\u{301}");
        assert_eq!(hash_input(b"\xff").as_ref(), b"\xff");
    }
}
