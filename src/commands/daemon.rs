//! Calls that exist in guestfish to test its daemon link, answered by rfish itself:
//! `echo-daemon`, which scripts use to check how their words reach the other side (a
//! StringList is split on blanks, `'...'` groups, `\'` is a quote).

use super::spec::{ArgKind, CommandSpec, RetType, arg, declared};
use super::{Args, CmdError, Ctx, Value};

/// `echo-daemon`.
pub static ECHO_DAEMON: CommandSpec = declared(
    "echo-daemon",
    &[arg("words", ArgKind::StringList)],
    RetType::String,
    "echo arguments back to the client",
    "Join the words of the list with single spaces and return them: a test of how a \
     StringList argument is split (on blanks, with '...' grouping words and \\' standing \
     for a quote), also through --remote.",
    &["echo-daemon \"a 'b c' d\""],
    echo_daemon,
);

fn echo_daemon(_ctx: &mut Ctx<'_>, args: &Args) -> Result<Value, CmdError> {
    Ok(Value::String(args.list(0).join(&b' ')))
}
