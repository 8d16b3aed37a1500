//! The guestfish line grammar (guestfish's `parse_command_line` in fish/fish.c), written with
//! nom. The grammar is written down in `grammar/rfish.ebnf`.
//!
//! A line is parsed in two stages, exactly as guestfish does:
//!
//! 1. prefixes, checked in order after leading white space: empty or `#` (nothing to do),
//!    `!host command`, `<!host command`, `-` (ignore this line's error, then start again);
//! 2. a command word (up to the first space or tab, never quoted) followed by arguments:
//!    `"..."` with C escapes, literal `'...'`, ` |host command` (the rest of the line), or a
//!    bare word up to the next space or tab.
//!
//! Lines are bytes, not UTF-8: `"\xff"` makes a byte no `str` could hold, and scripts are
//! read as bytes too. Every error carries the byte offset in the line where it was found and
//! displays guestfish's wording.

use std::fmt;

use nom::{
    IResult, Parser,
    branch::alt,
    bytes::complete::{tag, take_till, take_till1, take_while},
    combinator::{map, rest},
    error::{ErrorKind, ParseError as NomParseError},
    sequence::preceded,
};

/// guestfish keeps arguments in `char *argv[64]` with a terminating NULL, so a line with 64
/// arguments or more is "too many arguments".
pub const MAX_ARGS: usize = 63;

/// What a line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineKind {
    /// Empty line, white space only, or a `#` comment.
    Nothing,
    /// `!cmd`: run `cmd` with the host shell.
    Host(Vec<u8>),
    /// `<!cmd`: run `cmd` with the host shell and execute each line of its output.
    Inline(Vec<u8>),
    /// A command with its arguments.
    Call(Call),
}

/// One parsed line: its kind plus the `-` prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// The line started with `-`: its error does not stop a script.
    pub ignore_errors: bool,
    /// What the line asks for.
    pub kind: LineKind,
}

/// A command invocation: `name arg... [| host-cmd]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// The command word as typed (case and `_` are normalised by the registry lookup).
    pub name: String,
    /// The arguments after quote removal.
    pub args: Vec<Word>,
    /// The host command after ` |`, which reads this command's standard output.
    pub pipe: Option<Vec<u8>>,
}

/// One argument of a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    /// The bytes after quote and escape removal.
    pub text: Vec<u8>,
    /// How the word was written.
    pub quoting: Quoting,
    /// Byte offset of the word's first character in the line.
    pub offset: usize,
}

/// How an argument was written; only bare words are candidates for `~` expansion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quoting {
    /// Not quoted.
    Bare,
    /// `"..."` with escapes.
    Double,
    /// `'...'`, literal.
    Single,
}

impl Word {
    /// A bare word, as the command line (`rfish cmd arg : cmd2`) provides them.
    pub fn bare(text: impl Into<Vec<u8>>) -> Self {
        Word {
            text: text.into(),
            quoting: Quoting::Bare,
            offset: 0,
        }
    }
}

/// A syntax error in a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// What is wrong.
    pub kind: ParseErrorKind,
    /// Byte offset in the line where the problem was found.
    pub offset: usize,
    /// The line had the `-` prefix, so even this error does not stop a script.
    pub ignore_errors: bool,
}

/// The kinds of syntax error, each with guestfish's message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseErrorKind {
    /// `"abc` with no closing quote.
    UnterminatedDoubleQuote,
    /// `'abc` with no closing quote.
    UnterminatedSingleQuote,
    /// `"a"b`: a closing quote followed by something other than white space.
    NotSeparated,
    /// A bad `\` escape; the number is guestfish's offset: bytes of the decoded string so far.
    InvalidEscape(usize),
    /// More than [`MAX_ARGS`] arguments.
    TooManyArguments,
}

impl fmt::Display for ParseErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseErrorKind::UnterminatedDoubleQuote => f.write_str("unterminated double quote"),
            ParseErrorKind::UnterminatedSingleQuote => f.write_str("unterminated single quote"),
            ParseErrorKind::NotSeparated => {
                f.write_str("command arguments not separated by whitespace")
            }
            ParseErrorKind::InvalidEscape(at) => {
                write!(
                    f,
                    "invalid escape sequence in string (starting at offset {at})"
                )
            }
            ParseErrorKind::TooManyArguments => f.write_str("too many arguments"),
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.kind.fmt(f)
    }
}

impl std::error::Error for ParseError {}

/// nom's error type for this grammar: where it happened (as the remaining input) and, for
/// real syntax errors, which one.
#[derive(Debug)]
struct LexError<'a> {
    remaining: &'a [u8],
    kind: Option<ParseErrorKind>,
}

impl<'a> NomParseError<&'a [u8]> for LexError<'a> {
    fn from_error_kind(input: &'a [u8], _kind: ErrorKind) -> Self {
        LexError {
            remaining: input,
            kind: None,
        }
    }

    fn append(_input: &'a [u8], _kind: ErrorKind, other: Self) -> Self {
        other
    }
}

type LexResult<'a, T> = IResult<&'a [u8], T, LexError<'a>>;

fn failure<T>(remaining: &[u8], kind: ParseErrorKind) -> LexResult<'_, T> {
    Err(nom::Err::Failure(LexError {
        remaining,
        kind: Some(kind),
    }))
}

/// Blanks that separate words: space and tab only, as guestfish's `strcspn (p, " \t")`.
fn is_blank(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

/// White space skipped before the command: C's `isspace`.
fn is_c_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r')
}

fn blanks(input: &[u8]) -> LexResult<'_, &[u8]> {
    take_while(is_blank).parse(input)
}

/// Parse one line (without its trailing newline).
pub fn parse_line(line: &[u8]) -> Result<Line, ParseError> {
    let mut ignore_errors = false;
    let mut input = line;
    loop {
        let (after_space, _) = take_while::<_, _, LexError<'_>>(is_c_space)
            .parse(input)
            .unwrap_or((input, &[]));
        input = after_space;
        let kind = match input.first() {
            None | Some(b'#') => LineKind::Nothing,
            Some(b'!') => LineKind::Host(input[1..].to_vec()),
            Some(b'<') if input.get(1) == Some(&b'!') => LineKind::Inline(input[2..].to_vec()),
            Some(b'-') => {
                ignore_errors = true;
                input = &input[1..];
                continue;
            }
            Some(_) => break,
        };
        return Ok(Line {
            ignore_errors,
            kind,
        });
    }
    let call = match call(line, input) {
        Ok((_, call)) => call,
        Err(nom::Err::Failure(e) | nom::Err::Error(e)) => {
            return Err(ParseError {
                kind: e.kind.unwrap_or(ParseErrorKind::NotSeparated),
                offset: line.len().saturating_sub(e.remaining.len()),
                ignore_errors,
            });
        }
        Err(nom::Err::Incomplete(_)) => unreachable!("complete parsers never ask for more input"),
    };
    Ok(Line {
        ignore_errors,
        kind: LineKind::Call(call),
    })
}

/// What one step of the argument loop found.
enum Item {
    Word(Word),
    Pipe(Vec<u8>),
}

/// `command (blanks argument)* [blanks '|' host-command]`.
fn call<'a>(line: &'a [u8], input: &'a [u8]) -> LexResult<'a, Call> {
    let (mut input, name) = take_till1(is_blank).parse(input)?;
    let mut call = Call {
        name: String::from_utf8_lossy(name).into_owned(),
        args: Vec::new(),
        pipe: None,
    };
    (input, _) = blanks(input)?;
    while !input.is_empty() {
        if call.args.len() == MAX_ARGS {
            return failure(input, ParseErrorKind::TooManyArguments);
        }
        let offset = line.len().saturating_sub(input.len());
        let (after, item) = argument(offset).parse(input)?;
        match item {
            Item::Pipe(cmd) => {
                call.pipe = Some(cmd);
                return Ok((after, call));
            }
            Item::Word(word) => call.args.push(word),
        }
        (input, _) = blanks(after)?;
    }
    Ok((input, call))
}

fn argument<'a>(offset: usize) -> impl Parser<&'a [u8], Output = Item, Error = LexError<'a>> {
    alt((
        map(double_quoted, move |text| {
            word(text, Quoting::Double, offset)
        }),
        map(single_quoted, move |text: &[u8]| {
            word(text.to_vec(), Quoting::Single, offset)
        }),
        map(preceded(tag(&b"|"[..]), rest), |cmd: &[u8]| {
            Item::Pipe(cmd.to_vec())
        }),
        map(take_till1(is_blank), move |text: &[u8]| {
            word(text.to_vec(), Quoting::Bare, offset)
        }),
    ))
}

fn word(text: Vec<u8>, quoting: Quoting, offset: usize) -> Item {
    Item::Word(Word {
        text,
        quoting,
        offset,
    })
}

/// After a closing quote only a blank or the end of the line may follow.
fn separated(input: &[u8]) -> LexResult<'_, ()> {
    match input.first() {
        None => Ok((input, ())),
        Some(&c) if is_blank(c) => Ok((input, ())),
        Some(_) => failure(input, ParseErrorKind::NotSeparated),
    }
}

/// `'...'`: everything up to the next `'`, taken literally.
fn single_quoted(input: &[u8]) -> LexResult<'_, &[u8]> {
    let (body, _) = tag(&b"'"[..]).parse(input)?;
    let (after, text) = take_till(|c| c == b'\'').parse(body)?;
    let Some(after) = after.strip_prefix(b"'") else {
        return failure(after, ParseErrorKind::UnterminatedSingleQuote);
    };
    let (after, ()) = separated(after)?;
    Ok((after, text))
}

/// `"..."` with C escapes, decoded.
fn double_quoted(input: &[u8]) -> LexResult<'_, Vec<u8>> {
    let (mut input, _) = tag(&b"\""[..]).parse(input)?;
    let mut out = Vec::new();
    loop {
        let (after, chunk) = take_till(|c| c == b'"' || c == b'\\').parse(input)?;
        out.extend_from_slice(chunk);
        input = after;
        match input.first() {
            None => return failure(input, ParseErrorKind::UnterminatedDoubleQuote),
            Some(b'"') => {
                let (after, ()) = separated(&input[1..])?;
                return Ok((after, out));
            }
            Some(_) => {
                let (after, byte) = escape(input, out.len())?;
                out.push(byte);
                input = after;
            }
        }
    }
}

/// One `\` escape. `decoded_len` is guestfish's offset for the error message.
fn escape(input: &[u8], decoded_len: usize) -> LexResult<'_, u8> {
    let bad = || failure(input, ParseErrorKind::InvalidEscape(decoded_len));
    let simple = match input.get(1) {
        Some(b'\\') => Some(b'\\'),
        Some(b'a') => Some(0x07),
        Some(b'b') => Some(0x08),
        Some(b'f') => Some(0x0c),
        Some(b'n') => Some(b'\n'),
        Some(b'r') => Some(b'\r'),
        Some(b't') => Some(b'\t'),
        Some(b'v') => Some(0x0b),
        Some(b'"') => Some(b'"'),
        Some(b'\'') => Some(b'\''),
        Some(b'?') => Some(b'?'),
        _ => None,
    };
    if let Some(byte) = simple {
        return Ok((&input[2..], byte));
    }
    // Numeric escapes: exactly three octal or two hex digits, value 1..=255.
    let (digits, radix) = match input.get(1) {
        Some(b'0'..=b'7') => (input.get(1..4), 8),
        Some(b'x') => (input.get(2..4), 16),
        _ => return bad(),
    };
    let value = digits
        .filter(|d| {
            d.iter().all(|&c| {
                if radix == 8 {
                    (b'0'..=b'7').contains(&c)
                } else {
                    c.is_ascii_hexdigit()
                }
            })
        })
        .and_then(|d| std::str::from_utf8(d).ok())
        .and_then(|d| u32::from_str_radix(d, radix).ok());
    match value.and_then(|v| u8::try_from(v).ok()) {
        Some(byte) if byte != 0 => Ok((&input[4..], byte)),
        _ => bad(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call_of(line: &str) -> Call {
        match parse_line(line.as_bytes()).expect("parses").kind {
            LineKind::Call(call) => call,
            other => panic!("not a call: {other:?}"),
        }
    }

    fn args_of(line: &str) -> Vec<Vec<u8>> {
        call_of(line).args.into_iter().map(|w| w.text).collect()
    }

    fn error_of(line: &str) -> ParseError {
        parse_line(line.as_bytes()).expect_err("must fail")
    }

    #[test]
    fn blank_and_comment_lines_do_nothing() {
        for line in ["", "   ", "\t", "# comment", "   # indented comment", "-#x"] {
            assert_eq!(
                parse_line(line.as_bytes()).expect("parses").kind,
                LineKind::Nothing,
                "{line:?}"
            );
        }
    }

    #[test]
    fn hash_after_the_command_is_an_argument() {
        assert_eq!(args_of("echo # x"), vec![b"#".to_vec(), b"x".to_vec()]);
    }

    #[test]
    fn host_and_inline_commands_take_the_rest_verbatim() {
        let line = parse_line(b"  !ls -l 'x'").expect("parses");
        assert_eq!(line.kind, LineKind::Host(b"ls -l 'x'".to_vec()));
        let line = parse_line(b"<!echo echo hi").expect("parses");
        assert_eq!(line.kind, LineKind::Inline(b"echo echo hi".to_vec()));
        let line = parse_line(b"-!false").expect("parses");
        assert!(line.ignore_errors);
        assert_eq!(line.kind, LineKind::Host(b"false".to_vec()));
    }

    #[test]
    fn dash_prefix_ignores_errors_and_restarts() {
        let line = parse_line(b"- -  echo hi").expect("parses");
        assert!(line.ignore_errors);
        assert_eq!(call_of("-echo hi").name, "echo");
    }

    #[test]
    fn words_split_on_spaces_and_tabs_only() {
        assert_eq!(
            args_of("echo a\tb   c\u{b}d"),
            vec![b"a".to_vec(), b"b".to_vec(), b"c\x0bd".to_vec()]
        );
    }

    #[test]
    fn double_quotes_decode_c_escapes() {
        assert_eq!(
            args_of(r#"echo "a\\b\a\b\f\n\r\t\v\"\'\?" "\101\x42" "" "x y""#),
            vec![
                b"a\\b\x07\x08\x0c\n\r\t\x0b\"'?".to_vec(),
                b"AB".to_vec(),
                b"".to_vec(),
                b"x y".to_vec()
            ]
        );
        assert_eq!(args_of(r#"echo "\xff""#), vec![vec![0xff]]);
    }

    #[test]
    fn single_quotes_are_literal() {
        assert_eq!(
            args_of(r"echo 'a\nb' ''"),
            vec![b"a\\nb".to_vec(), b"".to_vec()]
        );
    }

    #[test]
    fn quotes_inside_bare_words_are_literal() {
        assert_eq!(
            args_of(r#"echo a"b c'd a|b"#),
            vec![b"a\"b".to_vec(), b"c'd".to_vec(), b"a|b".to_vec()]
        );
    }

    #[test]
    fn pipe_takes_the_rest_of_the_line() {
        let call = call_of("echo hi | tr a-z A-Z | cat");
        assert_eq!(
            call.args,
            vec![Word {
                text: b"hi".to_vec(),
                quoting: Quoting::Bare,
                offset: 5
            }]
        );
        assert_eq!(call.pipe, Some(b" tr a-z A-Z | cat".to_vec()));
        assert_eq!(call_of("echo |wc").pipe, Some(b"wc".to_vec()));
    }

    #[test]
    fn bad_escapes_report_guestfish_offsets() {
        let e = error_of(r#"echo "ab\q""#);
        assert_eq!(e.kind, ParseErrorKind::InvalidEscape(2));
        assert_eq!(
            e.to_string(),
            "invalid escape sequence in string (starting at offset 2)"
        );
        assert_eq!(e.offset, 8);
        // Offsets count decoded bytes, as guestfish rewrites the string in place.
        assert_eq!(
            error_of(r#"echo "\n\n\z""#).kind,
            ParseErrorKind::InvalidEscape(2)
        );
        for bad in [
            r#""\000""#,
            r#""\x00""#,
            r#""\777""#,
            r#""\12""#,
            r#""\xg0""#,
            r#""\8""#,
        ] {
            assert!(
                matches!(
                    error_of(&format!("echo {bad}")).kind,
                    ParseErrorKind::InvalidEscape(_)
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn dash_prefix_survives_a_parse_error() {
        assert!(error_of("- echo \"x").ignore_errors);
        assert!(!error_of("echo \"x").ignore_errors);
    }

    #[test]
    fn unterminated_quotes_are_errors() {
        let e = error_of(r#"echo "abc"#);
        assert_eq!(e.to_string(), "unterminated double quote");
        assert_eq!(e.offset, 9);
        let e = error_of("echo 'abc");
        assert_eq!(e.to_string(), "unterminated single quote");
        assert_eq!(e.offset, 9);
        assert_eq!(
            error_of(r#"echo "\""#).kind,
            ParseErrorKind::UnterminatedDoubleQuote
        );
    }

    #[test]
    fn closing_quote_must_be_followed_by_a_blank() {
        let e = error_of(r#"echo "a"b"#);
        assert_eq!(
            e.to_string(),
            "command arguments not separated by whitespace"
        );
        assert_eq!(e.offset, 8);
        assert_eq!(error_of("echo 'a'b").kind, ParseErrorKind::NotSeparated);
        assert_eq!(
            args_of("echo 'a'\t\"b\""),
            vec![b"a".to_vec(), b"b".to_vec()]
        );
    }

    #[test]
    fn at_most_63_arguments() {
        let line = format!("echo{}", " x".repeat(MAX_ARGS));
        assert_eq!(args_of(&line).len(), MAX_ARGS);
        let e = error_of(&format!("{line} y"));
        assert_eq!(e.to_string(), "too many arguments");
    }

    #[test]
    fn word_offsets_point_into_the_line() {
        let call = call_of("echo  'a'  b");
        let offsets: Vec<usize> = call.args.iter().map(|w| w.offset).collect();
        assert_eq!(offsets, vec![6, 11]);
    }
}
