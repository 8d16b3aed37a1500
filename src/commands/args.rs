//! Binding the words of a call to a command's declared arguments, with guestfish's checks
//! and messages (the code libguestfs' generator writes into fish/cmds.c).

use crate::parse::value::{parse_bool, parse_string_list, xstrtoll};

use super::{ArgKind, ArgSpec, Arity, CmdError, CommandSpec};

/// A checked argument value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArgValue {
    /// String, Path, Device, FileIn, FileOut: the bytes as given.
    Bytes(Vec<u8>),
    /// OptString: `None` for `""`.
    OptBytes(Option<Vec<u8>>),
    /// Int and Int64.
    Int(i64),
    /// Bool.
    Bool(bool),
    /// StringList.
    List(Vec<Vec<u8>>),
}

/// The checked arguments of one call.
#[derive(Debug, Default)]
pub struct Args {
    /// Required arguments in declaration order, or every word for free-arity commands.
    pub positional: Vec<ArgValue>,
    /// Optional arguments that were given, by name.
    pub optional: Vec<(&'static str, ArgValue)>,
    /// The name the command was called by (an alias, for free-arity commands).
    pub invoked_as: Option<String>,
}

impl Args {
    /// Check `words` against `spec`. `cmd` is the command name as typed (guestfish uses it in
    /// the usage hint and optional-argument errors).
    pub fn bind(spec: &CommandSpec, cmd: &str, words: &[Vec<u8>]) -> Result<Args, CmdError> {
        if spec.arity == Arity::Free {
            return Ok(Args {
                positional: words.iter().cloned().map(ArgValue::Bytes).collect(),
                optional: Vec::new(),
                invoked_as: Some(cmd.to_ascii_lowercase().replace('_', "-")),
            });
        }
        let required = spec.args.len();
        if words.len() < required || words.len() > required + spec.optargs.len() {
            return Err(CmdError::WrongArgs(format!(
                "error: incorrect number of arguments\nusage: {}\ntype 'help {cmd}' for more help on {cmd}\n",
                spec.synopsis()
            )));
        }
        let mut args = Args::default();
        for (a, word) in spec.args.iter().zip(words) {
            args.positional.push(convert(spec.name, a, word)?);
        }
        for word in &words[required..] {
            let found = spec.optargs.iter().find_map(|o| {
                let value = word.strip_prefix(o.name.as_bytes())?.strip_prefix(b":")?;
                Some((o, value))
            });
            let Some((o, value)) = found else {
                return Err(CmdError::Fish(format!(
                    "{cmd}: unknown optional argument \"{}\"\n",
                    String::from_utf8_lossy(word)
                )));
            };
            let value = convert(spec.name, o, value)?;
            if args.optional.iter().any(|(n, _)| *n == o.name) {
                return Err(CmdError::Fish(format!(
                    "{cmd}: optional argument \"{}\" given more than once\n",
                    o.name
                )));
            }
            args.optional.push((o.name, value));
        }
        Ok(args)
    }

    /// Positional argument `i` as bytes (String-like kinds and free-arity words).
    pub fn bytes(&self, i: usize) -> &[u8] {
        match self.positional.get(i) {
            Some(ArgValue::Bytes(b)) => b,
            other => panic!("argument {i} is not a string: {other:?}"),
        }
    }

    /// Positional argument `i` as text (lossy for bytes that are not UTF-8).
    pub fn text(&self, i: usize) -> String {
        String::from_utf8_lossy(self.bytes(i)).into_owned()
    }

    /// All positional arguments as bytes (free-arity commands).
    pub fn words(&self) -> Vec<&[u8]> {
        (0..self.positional.len()).map(|i| self.bytes(i)).collect()
    }

    /// Positional Int/Int64 argument `i`.
    pub fn int(&self, i: usize) -> i64 {
        match self.positional.get(i) {
            Some(ArgValue::Int(n)) => *n,
            other => panic!("argument {i} is not an integer: {other:?}"),
        }
    }

    /// Positional Bool argument `i`.
    pub fn bool(&self, i: usize) -> bool {
        match self.positional.get(i) {
            Some(ArgValue::Bool(b)) => *b,
            other => panic!("argument {i} is not a boolean: {other:?}"),
        }
    }

    /// Positional StringList argument `i`.
    pub fn list(&self, i: usize) -> &[Vec<u8>] {
        match self.positional.get(i) {
            Some(ArgValue::List(l)) => l,
            other => panic!("argument {i} is not a list: {other:?}"),
        }
    }

    /// An optional Bool argument.
    pub fn opt_bool(&self, name: &str) -> Option<bool> {
        match self.opt(name) {
            Some(ArgValue::Bool(b)) => Some(*b),
            _ => None,
        }
    }

    /// An optional String-like argument, as text.
    pub fn opt_text(&self, name: &str) -> Option<String> {
        match self.opt(name) {
            Some(ArgValue::Bytes(b)) => Some(String::from_utf8_lossy(b).into_owned()),
            Some(ArgValue::OptBytes(Some(b))) => Some(String::from_utf8_lossy(b).into_owned()),
            _ => None,
        }
    }

    /// An optional Int/Int64 argument.
    pub fn opt_int(&self, name: &str) -> Option<i64> {
        match self.opt(name) {
            Some(ArgValue::Int(n)) => Some(*n),
            _ => None,
        }
    }

    /// An optional argument, if it was given.
    pub fn opt(&self, name: &str) -> Option<&ArgValue> {
        self.optional
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v)
    }
}

/// Convert one word to its declared type.
fn convert(cmd: &str, spec: &ArgSpec, word: &[u8]) -> Result<ArgValue, CmdError> {
    Ok(match spec.kind {
        ArgKind::String | ArgKind::Path | ArgKind::Device | ArgKind::FileIn | ArgKind::FileOut => {
            ArgValue::Bytes(word.to_vec())
        }
        ArgKind::OptString => ArgValue::OptBytes((!word.is_empty()).then(|| word.to_vec())),
        ArgKind::Int | ArgKind::Int64 => {
            let n = xstrtoll(word).map_err(|code| {
                CmdError::Fish(format!(
                    "{cmd}: {}: invalid integer parameter (xstrtoll returned {code})\n",
                    spec.name
                ))
            })?;
            // The generator's Int is a signed 31-bit value plus sign: [-2^31, 2^31 - 1].
            if spec.kind == ArgKind::Int && i32::try_from(n).is_err() {
                return Err(CmdError::Fish(format!(
                    "{cmd}: {}: integer out of range\n",
                    spec.name
                )));
            }
            ArgValue::Int(n)
        }
        ArgKind::Bool => {
            let text = String::from_utf8_lossy(word);
            let b = parse_bool(&text).ok_or_else(|| {
                CmdError::Fish(format!(
                    "rfish: '{text}': invalid boolean value, use 'true' or 'false'\n"
                ))
            })?;
            ArgValue::Bool(b)
        }
        ArgKind::StringList => {
            ArgValue::List(parse_string_list(word).map_err(|m| CmdError::Fish(format!("{m}\n")))?)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::spec::arg;
    use crate::commands::test_spec;

    /// Shaped like guestfish's `head-n nrlines path` plus optional arguments of each kind.
    static SPEC: CommandSpec = test_spec(
        "head-n",
        &[arg("nrlines", ArgKind::Int), arg("path", ArgKind::Path)],
        &[
            arg("followsymlinks", ArgKind::Bool),
            arg("size", ArgKind::Int64),
            arg("excludes", ArgKind::StringList),
            arg("label", ArgKind::OptString),
        ],
    );

    fn bind(words: &[&str]) -> Result<Args, CmdError> {
        let words: Vec<Vec<u8>> = words.iter().map(|w| w.as_bytes().to_vec()).collect();
        Args::bind(&SPEC, "head_n", &words)
    }

    fn fish_error(words: &[&str]) -> String {
        match bind(words) {
            Err(CmdError::Fish(m) | CmdError::WrongArgs(m)) => m,
            other => panic!("expected an error, got {other:?}"),
        }
    }

    #[test]
    fn synopsis_lists_optional_arguments_like_guestfish() {
        assert_eq!(
            SPEC.synopsis(),
            "head-n nrlines path [followsymlinks:true|false] [size:N] [excludes:..] [label:..]"
        );
    }

    #[test]
    fn wrong_count_prints_usage_with_the_name_as_typed() {
        assert_eq!(
            fish_error(&["1"]),
            format!(
                "error: incorrect number of arguments\nusage: {}\n\
                 type 'help head_n' for more help on head_n\n",
                SPEC.synopsis()
            )
        );
        assert!(matches!(
            bind(&["1", "/p", "a:1", "b:2", "c:3", "d:4", "e:5"]),
            Err(CmdError::WrongArgs(_))
        ));
    }

    #[test]
    fn integers_are_checked_with_guestfish_messages() {
        assert_eq!(bind(&["0x10", "/p"]).expect("ok").int(0), 16);
        assert_eq!(
            fish_error(&["1kx", "/p"]),
            "head-n: nrlines: invalid integer parameter (xstrtoll returned 2)\n"
        );
        assert_eq!(
            fish_error(&["", "/p"]),
            "head-n: nrlines: invalid integer parameter (xstrtoll returned 4)\n"
        );
        assert_eq!(
            fish_error(&["3000000000", "/p"]),
            "head-n: nrlines: integer out of range\n"
        );
        assert_eq!(
            bind(&["-2147483648", "/p"]).expect("ok").int(0),
            i64::from(i32::MIN)
        );
        let args = bind(&["1", "/p", "size:3000000000"]).expect("Int64 has no 32-bit limit");
        assert_eq!(args.opt("size"), Some(&ArgValue::Int(3_000_000_000)));
    }

    #[test]
    fn optional_arguments_are_checked() {
        let args = bind(&[
            "1",
            "/p",
            "followsymlinks:yes",
            "excludes:a 'b c'",
            "label:",
        ])
        .expect("ok");
        assert_eq!(args.opt("followsymlinks"), Some(&ArgValue::Bool(true)));
        assert_eq!(
            args.opt("excludes"),
            Some(&ArgValue::List(vec![b"a".to_vec(), b"b c".to_vec()]))
        );
        assert_eq!(args.opt("label"), Some(&ArgValue::OptBytes(None)));
        assert_eq!(args.opt("size"), None);
        assert_eq!(
            fish_error(&["1", "/p", "followsymlinks:maybe"]),
            "rfish: 'maybe': invalid boolean value, use 'true' or 'false'\n"
        );
        assert_eq!(
            fish_error(&["1", "/p", "foo:1"]),
            "head_n: unknown optional argument \"foo:1\"\n"
        );
        assert_eq!(
            fish_error(&["1", "/p", "followsymlinks"]),
            "head_n: unknown optional argument \"followsymlinks\"\n"
        );
        assert_eq!(
            fish_error(&["1", "/p", "size:1", "size:2"]),
            "head_n: optional argument \"size\" given more than once\n"
        );
    }
}
