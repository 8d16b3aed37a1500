//! Typed argument values as guestfish reads them: integers through gnulib's `xstrtoll` (C
//! radix, size suffixes), booleans through libguestfs' `is_true`, and string lists through
//! guestfish's `parse_string_list`.

/// gnulib's `strtol_error` codes, which guestfish prints in "xstrtoll returned N".
pub mod strtol_error {
    /// Numeric overflow.
    pub const OVERFLOW: u32 = 1;
    /// Something after the number that is not a valid suffix.
    pub const INVALID_SUFFIX_CHAR: u32 = 2;
    /// No number at all.
    pub const INVALID: u32 = 4;
}

/// The suffixes guestfish allows (`xstrtol_suffixes`): `0` enables the optional `B`/`D`
/// (powers of 1000) and `iB` (powers of 1024) second suffix.
const VALID_SUFFIXES: &[u8] = b"0kKMGTPEZY";

/// Parse an integer exactly as `xstrtoll (s, NULL, 0, &r, "0kKMGTPEZY")` does.
///
/// On error returns the `strtol_error` code guestfish prints. Overflow saturates as in C, and
/// is reported even when a bad suffix follows (codes are or-ed together).
pub fn xstrtoll(s: &[u8]) -> Result<i64, u32> {
    let (value, rest, mut err) = match strtoll(s) {
        Some((value, rest, overflow)) => (
            value,
            rest,
            if overflow { strtol_error::OVERFLOW } else { 0 },
        ),
        // No digits: a valid suffix right at the start means 1 (so "k" is 1024).
        None => match s.first() {
            Some(c) if VALID_SUFFIXES.contains(c) => (1, s, 0),
            _ => return Err(strtol_error::INVALID),
        },
    };
    let Some(&suffix) = rest.first() else {
        return if err == 0 { Ok(value) } else { Err(err) };
    };
    if !VALID_SUFFIXES.contains(&suffix) {
        return Err(err | strtol_error::INVALID_SUFFIX_CHAR);
    }
    let (base, consumed): (i64, usize) = match (rest.get(1), rest.get(2)) {
        (Some(b'i'), Some(b'B')) => (1024, 3),
        (Some(b'B' | b'D'), _) => (1000, 2),
        _ => (1024, 1),
    };
    let power = match suffix {
        b'k' | b'K' => 1,
        b'M' => 2,
        b'G' => 3,
        b'T' => 4,
        b'P' => 5,
        b'E' => 6,
        b'Z' => 7,
        b'Y' => 8,
        _ => return Err(err | strtol_error::INVALID_SUFFIX_CHAR),
    };
    let mut scaled = value;
    for _ in 0..power {
        match scaled.checked_mul(base) {
            Some(v) => scaled = v,
            None => {
                err |= strtol_error::OVERFLOW;
                break;
            }
        }
    }
    if rest.len() > consumed {
        err |= strtol_error::INVALID_SUFFIX_CHAR;
    }
    if err == 0 { Ok(scaled) } else { Err(err) }
}

fn is_c_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r')
}

/// C `strtoll` with base 0: optional blanks and sign, `0x` hex, leading `0` octal. Returns
/// the value, the unparsed rest and whether it overflowed, or `None` when no digit was read.
fn strtoll(s: &[u8]) -> Option<(i64, &[u8], bool)> {
    let mut i = s.iter().position(|c| !is_c_space(*c))?;
    let negative = match s.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let radix: u32 = if s.get(i) == Some(&b'0')
        && matches!(s.get(i + 1), Some(b'x' | b'X'))
        && s.get(i + 2).is_some_and(u8::is_ascii_hexdigit)
    {
        i += 2;
        16
    } else if s.get(i) == Some(&b'0') {
        8
    } else {
        10
    };
    let digits_start = i;
    // Accumulate the magnitude as u128 so that i64::MIN is representable.
    let mut magnitude: u128 = 0;
    let mut overflow = false;
    while let Some(digit) = s.get(i).and_then(|&c| char::from(c).to_digit(radix)) {
        magnitude = magnitude
            .checked_mul(u128::from(radix))
            .and_then(|m| m.checked_add(u128::from(digit)))
            .unwrap_or_else(|| {
                overflow = true;
                u128::MAX
            });
        i += 1;
    }
    if i == digits_start {
        return None;
    }
    let limit = if negative {
        u128::from(i64::MAX.unsigned_abs()) + 1
    } else {
        u128::from(i64::MAX.unsigned_abs())
    };
    let value = if overflow || magnitude > limit {
        overflow = true;
        if negative { i64::MIN } else { i64::MAX }
    } else if negative {
        // magnitude <= 2^63, so the negation fits.
        i64::try_from(magnitude).map_or(i64::MIN, |m| -m)
    } else {
        i64::try_from(magnitude).unwrap_or(i64::MAX)
    };
    Some((value, &s[i..], overflow))
}

/// guestfish's `parse_size` (fish/alloc.c): an unsigned size with `xstrtoull`'s suffixes;
/// a leading minus is gnulib's error 4.
pub fn parse_size(s: &[u8]) -> Result<u64, u32> {
    let trimmed = s
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .map_or(&s[..0], |i| &s[i..]);
    if trimmed.first() == Some(&b'-') {
        return Err(4);
    }
    xstrtoll(s).and_then(|n| u64::try_from(n).map_err(|_| 1))
}

/// Parse a boolean word (libguestfs `guestfs_int_is_true`), case-insensitively.
pub fn parse_bool(s: &str) -> Option<bool> {
    const TRUE: [&str; 6] = ["1", "true", "t", "yes", "y", "on"];
    const FALSE: [&str; 6] = ["0", "false", "f", "no", "n", "off"];
    if TRUE.iter().any(|w| w.eq_ignore_ascii_case(s)) {
        Some(true)
    } else if FALSE.iter().any(|w| w.eq_ignore_ascii_case(s)) {
        Some(false)
    } else {
        None
    }
}

/// Split a StringList argument as guestfish's `parse_string_list` does: tokens separated by
/// blanks; `'...'` sections (anywhere in a token) keep blanks; `\'` is a literal quote, inside
/// or outside quotes; any other backslash is literal. An unclosed quote is an error carrying
/// guestfish's message.
pub fn parse_string_list(s: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let is_blank = |c: u8| c == b' ' || c == b'\t';
    let mut items = Vec::new();
    let mut i = 0;
    while i < s.len() {
        while s.get(i).is_some_and(|&c| is_blank(c)) {
            i += 1;
        }
        let mut in_quote = false;
        let mut token: Option<Vec<u8>> = None;
        while let Some(&c) = s.get(i) {
            if is_blank(c) && !in_quote {
                break;
            }
            if c == b'\'' {
                in_quote = !in_quote;
                i += 1;
            }
            let stop = |c: &u8| {
                if in_quote {
                    *c == b'\''
                } else {
                    matches!(c, b' ' | b'\t' | b'\'')
                }
            };
            let end = s[i..].iter().position(stop).map_or(s.len(), |n| i + n);
            let token = token.get_or_insert_with(Vec::new);
            if s.get(end) == Some(&b'\'') && end > i && s[end - 1] == b'\\' {
                token.extend_from_slice(&s[i..end - 1]);
                token.push(b'\'');
                i = end + 1;
            } else {
                token.extend_from_slice(&s[i..end]);
                i = end;
            }
        }
        if in_quote {
            return Err(format!(
                "Runaway quote in string \"{}\"",
                String::from_utf8_lossy(s)
            ));
        }
        items.extend(token);
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_follow_c_radix_rules() {
        assert_eq!(xstrtoll(b"700"), Ok(700));
        assert_eq!(xstrtoll(b"0700"), Ok(0o700));
        assert_eq!(xstrtoll(b"0x1F"), Ok(31));
        assert_eq!(xstrtoll(b"-12"), Ok(-12));
        assert_eq!(xstrtoll(b" +5"), Ok(5));
        assert_eq!(xstrtoll(b"0"), Ok(0));
    }

    #[test]
    fn size_suffixes_are_binary_unless_followed_by_b() {
        assert_eq!(xstrtoll(b"1k"), Ok(1024));
        assert_eq!(xstrtoll(b"1K"), Ok(1024));
        assert_eq!(xstrtoll(b"2M"), Ok(2 << 20));
        assert_eq!(xstrtoll(b"1G"), Ok(1 << 30));
        assert_eq!(xstrtoll(b"1KiB"), Ok(1024));
        assert_eq!(xstrtoll(b"1KB"), Ok(1000));
        assert_eq!(xstrtoll(b"1MB"), Ok(1_000_000));
        assert_eq!(xstrtoll(b"1E"), Ok(1 << 60));
        assert_eq!(xstrtoll(b"k"), Ok(1024));
    }

    #[test]
    fn integer_errors_carry_gnulib_codes() {
        assert_eq!(xstrtoll(b""), Err(strtol_error::INVALID));
        assert_eq!(xstrtoll(b"abc"), Err(strtol_error::INVALID));
        assert_eq!(xstrtoll(b"-k"), Err(strtol_error::INVALID));
        assert_eq!(xstrtoll(b"08"), Err(strtol_error::INVALID_SUFFIX_CHAR));
        assert_eq!(xstrtoll(b"0x"), Err(strtol_error::INVALID_SUFFIX_CHAR));
        assert_eq!(xstrtoll(b"1kx"), Err(strtol_error::INVALID_SUFFIX_CHAR));
        assert_eq!(xstrtoll(b"1m"), Err(strtol_error::INVALID_SUFFIX_CHAR));
        assert_eq!(xstrtoll(b"5 "), Err(strtol_error::INVALID_SUFFIX_CHAR));
        assert_eq!(
            xstrtoll(b"99999999999999999999"),
            Err(strtol_error::OVERFLOW)
        );
        assert_eq!(xstrtoll(b"9999999999999999Y"), Err(strtol_error::OVERFLOW));
        assert_eq!(
            xstrtoll(b"99999999999999999999x"),
            Err(strtol_error::OVERFLOW | strtol_error::INVALID_SUFFIX_CHAR)
        );
        assert_eq!(xstrtoll(b"-9223372036854775808"), Ok(i64::MIN));
    }

    #[test]
    fn booleans_accept_guestfish_words_in_any_case() {
        for w in ["1", "true", "T", "Yes", "y", "ON"] {
            assert_eq!(parse_bool(w), Some(true), "{w}");
        }
        for w in ["0", "FALSE", "f", "no", "N", "off"] {
            assert_eq!(parse_bool(w), Some(false), "{w}");
        }
        for w in ["", "maybe", "2", "yess"] {
            assert_eq!(parse_bool(w), None, "{w}");
        }
    }

    #[test]
    fn string_lists_split_on_blanks_with_quote_groups() {
        let list = parse_string_list(b"/bin/echo 'a  b' x'y z'w a\\b it\\'s ''").expect("ok");
        assert_eq!(
            list,
            vec![
                b"/bin/echo".to_vec(),
                b"a  b".to_vec(),
                b"xy zw".to_vec(),
                b"a\\b".to_vec(),
                b"it's".to_vec(),
                b"".to_vec()
            ]
        );
        assert!(parse_string_list(b"   ").expect("ok").is_empty());
        assert_eq!(
            parse_string_list(b"a 'b").expect_err("runaway"),
            "Runaway quote in string \"a 'b\""
        );
    }
}
