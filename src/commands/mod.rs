//! The command registry and dispatcher.
//!
//! Every command is declared once as a [`CommandSpec`] (name, aliases, arguments, optional
//! arguments, return type, help, examples) next to its handler. Lookup, argument checking,
//! `help`, completion and the README's command list all read the same table
//! ([`registry()`]), so none of them can drift from the others.
//!
//! A call goes: lookup (case-insensitive, `_` = `-`) → arity and typed-argument checks with
//! guestfish's messages → handler → [`output::print`] by declared return type.

pub mod acltext;
mod args;
pub mod blockdev;
pub mod daemon;
pub mod disk;
pub mod edit;
pub mod elf;
pub mod events;
pub mod fish;
pub mod fsarchive;
pub mod fsattrs;
pub mod fscopy;
pub mod fsfill;
pub mod fsimport;
pub mod fslist;
pub mod fsmeta;
pub mod fsread;
pub mod fssearch;
pub mod fswrite;
pub mod guest;
pub mod help;
pub mod inspect;
pub mod inspect_apps;
pub mod lvm;
pub mod mkfs;
pub mod mount;
pub mod output;
pub mod part;
pub mod partwrite;
pub mod prepared;
pub mod probe;
mod registry;
pub mod selinux;
pub mod spec;
pub mod tarball;
pub mod untar;
pub mod xfs;

use std::io::Write;

pub use args::{ArgValue, Args};
pub use output::Value;
pub use registry::{RFISH_EXTRAS, is_fish_command, lookup, registry, suggest};
pub use spec::{ArgKind, ArgSpec, Arity, CommandSpec, RetType};

use crate::session::Session;

/// Why a command failed, which decides how the shell reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CmdError {
    /// A message printed exactly as given on standard error, as guestfish's own (fish-side)
    /// messages are: usage errors, unknown commands, bad integers.
    Fish(String),
    /// The wrong number of arguments: printed like [`CmdError::Fish`], but `not` passes it on
    /// instead of inverting it.
    WrongArgs(String),
    /// A library-level error: `rfish: error: MSG`, prefixed `FILE:LINE: ` in scripts.
    Api(String),
    /// The failure was already reported (or needs no message, as `not` of a success).
    Silent,
}

impl CmdError {
    /// A library-level error for command `name`: `name: msg`.
    pub fn api(name: &str, msg: impl std::fmt::Display) -> Self {
        CmdError::Api(format!("{name}: {msg}"))
    }
}

/// What a handler can reach: the session and the output stream (which may be a pipe to a
/// host command).
pub struct Ctx<'a> {
    /// Session state: drives, options, the quit flag.
    pub session: &'a mut Session,
    /// Where results go.
    pub out: &'a mut dyn Write,
}

/// Resolve a command name, check and convert its arguments, run it and print its result.
/// `words` are the arguments after quote removal, `~` expansion and here-document reading.
pub fn run(ctx: &mut Ctx<'_>, name: &str, words: &[Vec<u8>]) -> Result<(), CmdError> {
    ctx.session.command_num += 1;
    let Some(spec) = lookup(name) else {
        return Err(unknown_command(name, ctx.session.command_num == 1));
    };
    // Library calls (not the shell's own commands) raise `enter` and are traced.
    if !is_fish_command(spec.name) {
        let call = spec.name.replace('-', "_");
        ctx.session
            .events
            .fire(events::Event::Enter, Some(call.as_bytes()), &[]);
        if ctx.session.trace {
            trace_call(ctx.session, &call, words);
        }
    }
    let words = standard_streams(spec, words);
    let args = Args::bind(spec, name, &words)?;
    // Guest filesystems go back to rfish before any command that is not a guest command.
    if !guest::keeps_guest_mounts(spec.name) {
        guest::hand_back(ctx.session)?;
    }
    // Each command's filesystem changes form one transaction: committed when it
    // succeeds, forgotten when it fails.
    let value = match (spec.handler)(ctx, &args) {
        Ok(v) => {
            ctx.session
                .vfs
                .commit_all()
                .map_err(|e| CmdError::api(&spec.name.replace('-', "_"), e.to_string()))?;
            v
        }
        Err(e) => {
            ctx.session.vfs.rollback_all();
            return Err(e);
        }
    };
    output::print(ctx.out, spec.ret, &value)
        .map_err(|e| CmdError::Api(format!("{}: writing output: {e}", spec.name)))?;
    ctx.out
        .flush()
        .map_err(|e| CmdError::Api(format!("failed to flush standard output: {e}")))
}

/// guestfish's `-` for a FileIn argument (standard input) or a FileOut one (standard
/// output), whatever the words came from: a script, the command line or a `--remote`
/// client (whose streams the server runs the command with).
fn standard_streams<'a>(
    spec: &CommandSpec,
    words: &'a [Vec<u8>],
) -> std::borrow::Cow<'a, [Vec<u8>]> {
    let stream = |i: usize, w: &[u8]| match spec.args.get(i).map(|a| a.kind) {
        Some(ArgKind::FileIn) if w == b"-" => Some(b"/dev/stdin".to_vec()),
        Some(ArgKind::FileOut) if w == b"-" => Some(b"/dev/stdout".to_vec()),
        _ => None,
    };
    if words
        .iter()
        .enumerate()
        .all(|(i, w)| stream(i, w).is_none())
    {
        return std::borrow::Cow::Borrowed(words);
    }
    std::borrow::Cow::Owned(
        words
            .iter()
            .enumerate()
            .map(|(i, w)| stream(i, w).unwrap_or_else(|| w.clone()))
            .collect(),
    )
}

/// guestfish's "unknown command" message, its extended hint when this was the first command,
/// and rfish's nearest-name suggestion.
fn unknown_command(name: &str, first: bool) -> CmdError {
    let mut msg = format!("{name}: unknown command\n");
    if let Some(near) = suggest(name) {
        msg.push_str(&format!("Did you mean '{near}'?\n"));
    }
    if first {
        msg.push_str(
            "Did you mean to open a disk image?  rfish -a disk.img\n\
             For a list of commands:             rfish -h\n\
             For complete documentation:         rfish --help\n",
        );
    }
    CmdError::Fish(msg)
}

/// `-x`: `libguestfs: trace: name "arg" ...` on standard error, as guestfish's trace does,
/// or (without the prefix) to the `trace` event handlers when there are some.
fn trace_call(session: &Session, call: &str, words: &[Vec<u8>]) {
    let mut line = call.to_string();
    for w in words {
        line.push_str(&format!(" \"{}\"", String::from_utf8_lossy(w)));
    }
    if session.events.wants(events::Event::Trace) {
        session
            .events
            .fire(events::Event::Trace, Some(line.as_bytes()), &[]);
    } else {
        eprintln!("libguestfs: trace: {line}");
    }
}

/// Print an error the way guestfish does: fish-side messages verbatim, library errors as
/// `rfish: error: MSG` (prefixed with `FILE:LINE: ` in scripts), in red on a terminal.
pub fn report(session: &Session, err: &CmdError) {
    use colored::Colorize;
    let text = match err {
        CmdError::Fish(msg) | CmdError::WrongArgs(msg) => msg.clone(),
        CmdError::Api(msg) => {
            let prefix = session
                .location
                .as_ref()
                .map(|l| format!("{}:{}: ", l.file, l.line))
                .unwrap_or_default();
            format!("{prefix}rfish: error: {msg}\n")
        }
        CmdError::Silent => return,
    };
    let mut stderr = std::io::stderr().lock();
    let _ = write!(stderr, "{}", text.red());
    let _ = stderr.flush();
}

/// A command shaped like guestfish's `upload FILEIN PATH`, for tests.
#[cfg(test)]
pub(crate) static UPLOAD_LIKE: CommandSpec = test_spec(
    "upload-like",
    &[
        spec::arg("filename", ArgKind::FileIn),
        spec::arg("remotefilename", ArgKind::Path),
    ],
    &[],
);

/// A handler that does nothing, for specs declared in tests.
#[cfg(test)]
fn noop_handler(_ctx: &mut Ctx<'_>, _args: &Args) -> Result<Value, CmdError> {
    Ok(Value::Unit)
}

/// A command declaration for tests: declared arguments, no help, a handler that does nothing.
#[cfg(test)]
pub(crate) const fn test_spec(
    name: &'static str,
    args: &'static [ArgSpec],
    optargs: &'static [ArgSpec],
) -> CommandSpec {
    CommandSpec {
        name,
        aliases: &[],
        args,
        optargs,
        arity: Arity::Declared,
        free_synopsis: "",
        ret: RetType::Err,
        shortdesc: "",
        longdesc: "",
        examples: &[],
        handler: noop_handler,
    }
}

#[cfg(test)]
mod tests {
    use super::spec::arg;
    use super::*;

    /// Shaped like guestfish's `download PATH FILEOUT`.
    static DOWNLOAD_LIKE: CommandSpec = test_spec(
        "download-like",
        &[
            arg("remote", ArgKind::Path),
            arg("filename", ArgKind::FileOut),
        ],
        &[],
    );

    #[test]
    fn a_dash_is_a_standard_stream_for_file_arguments_only() {
        let words = |w: &[&str]| w.iter().map(|s| s.as_bytes().to_vec()).collect::<Vec<_>>();
        assert_eq!(
            standard_streams(&UPLOAD_LIKE, &words(&["-", "-"])).into_owned(),
            words(&["/dev/stdin", "-"])
        );
        assert_eq!(
            standard_streams(&DOWNLOAD_LIKE, &words(&["-", "-"])).into_owned(),
            words(&["-", "/dev/stdout"])
        );
        assert_eq!(
            standard_streams(&UPLOAD_LIKE, &words(&["./-", "/x"])).into_owned(),
            words(&["./-", "/x"])
        );
    }
}
