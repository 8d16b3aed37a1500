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
}

impl Args {
    /// Check `words` against `spec`. `cmd` is the command name as typed (guestfish uses it in
    /// the usage hint and optional-argument errors).
    pub fn bind(spec: &CommandSpec, cmd: &str, words: &[Vec<u8>]) -> Result<Args, CmdError> {
        if spec.arity == Arity::Free {
            return Ok(Args {
                positional: words.iter().cloned().map(ArgValue::Bytes).collect(),
                optional: Vec::new(),
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
