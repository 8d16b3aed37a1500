//! Commands that live in the shell rather than in the disk layers (guestfish's "fish
//! commands"): quit, echo, lcd, time, not, setenv, unsetenv, supported, version, launch,
//! reopen. Their usage messages are guestfish's own.

use std::time::Instant;

use super::output::Field;
use super::spec::{Arity, CommandSpec, RetType};
use super::{Args, CmdError, Ctx, Value};

/// A fish command with free arity.
pub(crate) const fn free(
    name: &'static str,
    aliases: &'static [&'static str],
    free_synopsis: &'static str,
    shortdesc: &'static str,
    longdesc: &'static str,
    examples: &'static [&'static str],
    handler: super::spec::Handler,
) -> CommandSpec {
    CommandSpec {
        name,
        aliases,
        args: &[],
        optargs: &[],
        arity: Arity::Free,
        free_synopsis,
        ret: RetType::Err,
        shortdesc,
        longdesc,
        examples,
        handler,
    }
}

/// `quit`, `exit`, `q`.
pub static QUIT: CommandSpec = free(
    "quit",
    &["exit", "q"],
    "",
    "quit guestfish",
    "Leave the shell. End of input (Ctrl-D) does the same.",
    &["quit"],
    quit,
);

fn quit(ctx: &mut Ctx<'_>, _args: &Args) -> Result<Value, CmdError> {
    ctx.session.quit = true;
    Ok(Value::Unit)
}

/// `echo`.
pub static ECHO: CommandSpec = CommandSpec {
    ret: RetType::String,
    ..free(
        "echo",
        &[],
        "[params ...]",
        "display a line of text",
        "Print the parameters, separated by single spaces, followed by a newline.",
        &["echo hello world", "echo \"tab\\there\""],
        echo,
    )
};

fn echo(_ctx: &mut Ctx<'_>, args: &Args) -> Result<Value, CmdError> {
    Ok(Value::String(args.words().join(&b' ')))
}

/// `lcd`.
pub static LCD: CommandSpec = free(
    "lcd",
    &[],
    "directory",
    "change working directory",
    "Change the local directory, that is the current directory of rfish itself \
     (host paths given to upload, download and friends are relative to it).\n\n\
     Note that \"!cd\" won't do what you might expect: it changes the directory of a \
     short-lived host shell only.",
    &["lcd /tmp"],
    lcd,
);

fn lcd(_ctx: &mut Ctx<'_>, args: &Args) -> Result<Value, CmdError> {
    if args.positional.len() != 1 {
        return Err(CmdError::Fish(
            "use 'lcd directory' to change local directory\n".into(),
        ));
    }
    let dir = args.text(0);
    std::env::set_current_dir(&dir)
        .map_err(|e| CmdError::Fish(format!("{dir}: {}\n", crate::os_error_text(&e))))?;
    Ok(Value::Unit)
}

/// `time`.
pub static TIME: CommandSpec = CommandSpec {
    ret: RetType::String,
    ..free(
        "time",
        &[],
        "command args...",
        "print elapsed time taken to run a command",
        "Run the command as usual, then print how long it took.",
        &["time echo hi"],
        time,
    )
};

fn time(ctx: &mut Ctx<'_>, args: &Args) -> Result<Value, CmdError> {
    let Some((cmd, rest)) = split_command(args) else {
        return Err(CmdError::Fish("use 'time command [args...]'\n".into()));
    };
    let start = Instant::now();
    let result = super::run(ctx, &cmd, &rest);
    let elapsed = start.elapsed();
    result?;
    let centis = elapsed.subsec_millis() / 10;
    Ok(Value::String(
        format!("elapsed time: {}.{centis:02} seconds", elapsed.as_secs()).into_bytes(),
    ))
}

fn split_command(args: &Args) -> Option<(String, Vec<Vec<u8>>)> {
    let words = args.words();
    let (first, rest) = words.split_first()?;
    Some((
        String::from_utf8_lossy(first).into_owned(),
        rest.iter().map(|w| w.to_vec()).collect(),
    ))
}

/// `not` (rfish extra, as in newer guestfish).
pub static NOT: CommandSpec = free(
    "not",
    &[],
    "command args...",
    "invert the success of a command",
    "Run the command; succeed if it fails and fail if it succeeds. The command's own error \
     message is still printed. A wrong number of arguments stays an error.\n\n\
     Useful in scripts to assert that something is not possible, for example that a file \
     does not exist.",
    &["not nosuchcommand"],
    not,
);

fn not(ctx: &mut Ctx<'_>, args: &Args) -> Result<Value, CmdError> {
    let Some((cmd, rest)) = split_command(args) else {
        return Err(CmdError::Fish("use 'not command [args...]'\n".into()));
    };
    match super::run(ctx, &cmd, &rest) {
        Ok(()) => Err(CmdError::Silent),
        Err(e @ CmdError::WrongArgs(_)) => Err(e),
        Err(e) => {
            super::report(ctx.session, &e);
            Ok(Value::Unit)
        }
    }
}

/// `setenv`.
pub static SETENV: CommandSpec = free(
    "setenv",
    &[],
    "VAR value",
    "set an environment variable",
    "Set the environment variable VAR to the string value, for host commands run with \
     \"!\", \"<!\" or \"|\".",
    &["setenv PAGER cat"],
    setenv,
);

fn setenv(_ctx: &mut Ctx<'_>, args: &Args) -> Result<Value, CmdError> {
    if args.positional.len() != 2 {
        return Err(CmdError::Fish(
            "use 'setenv VAR value' to set an environment variable\n".into(),
        ));
    }
    let (var, value) = (args.text(0), args.text(1));
    check_env_name(&var, "setenv")?;
    crate::hostenv::set(&var, Some(&value));
    Ok(Value::Unit)
}

/// `unsetenv`.
pub static UNSETENV: CommandSpec = free(
    "unsetenv",
    &[],
    "VAR",
    "unset an environment variable",
    "Remove VAR from the environment.",
    &["unsetenv PAGER"],
    unsetenv,
);

fn unsetenv(_ctx: &mut Ctx<'_>, args: &Args) -> Result<Value, CmdError> {
    if args.positional.len() != 1 {
        return Err(CmdError::Fish(
            "use 'unsetenv VAR' to unset an environment variable\n".into(),
        ));
    }
    let var = args.text(0);
    check_env_name(&var, "unsetenv")?;
    crate::hostenv::set(&var, None);
    Ok(Value::Unit)
}

/// setenv(3) refuses empty names and names containing `=`; so does rfish, rather than hand a
/// malformed environment to host commands.
fn check_env_name(var: &str, what: &str) -> Result<(), CmdError> {
    if var.is_empty() || var.contains('=') || var.contains('\0') {
        return Err(CmdError::Fish(format!("{what}: Invalid argument\n")));
    }
    Ok(())
}

/// `launch` / `run`.
pub static LAUNCH: CommandSpec = CommandSpec {
    name: "launch",
    aliases: &["run"],
    args: &[],
    optargs: &[],
    arity: Arity::Declared,
    free_synopsis: "",
    ret: RetType::Err,
    shortdesc: "launch the backend",
    longdesc: "Open the drives added so far (rfish opens images itself, in milliseconds; \
               its appliance boots only when a command needs a running guest kernel). \
               Optional in rfish: commands that need the drives open them.",
    examples: &["run"],
    handler: launch,
};

fn launch(ctx: &mut Ctx<'_>, _args: &Args) -> Result<Value, CmdError> {
    if ctx.session.launched {
        return Err(CmdError::api(
            "launch",
            "the libguestfs handle has already been launched",
        ));
    }
    ctx.session.launched = true;
    // Open the drives now, so a bad image is reported here as guestfish would.
    ctx.session.open_drives("launch")?;
    ctx.session
        .events
        .fire(super::events::Event::LaunchDone, None, &[]);
    Ok(Value::Unit)
}

/// `reopen`.
pub static REOPEN: CommandSpec = free(
    "reopen",
    &[],
    "",
    "close and reopen libguestfs handle",
    "Close the session and open a new, empty one: drives, mounts and settings made with \
     commands are forgotten; command-line options stay.",
    &["reopen"],
    reopen,
);

fn reopen(ctx: &mut Ctx<'_>, args: &Args) -> Result<Value, CmdError> {
    if !args.positional.is_empty() {
        return Err(CmdError::Fish(
            "\u{2018}reopen\u{2019} command takes no parameters\n".into(),
        ));
    }
    *ctx.session = ctx.session.reopened();
    Ok(Value::Unit)
}

/// `version`.
pub static VERSION: CommandSpec = CommandSpec {
    name: "version",
    aliases: &[],
    args: &[],
    optargs: &[],
    arity: Arity::Declared,
    free_synopsis: "",
    ret: RetType::Struct,
    shortdesc: "get the library version number",
    longdesc: "Return the version of rfish as major, minor, release and extra fields.",
    examples: &["version"],
    handler: version,
};

fn version(_ctx: &mut Ctx<'_>, _args: &Args) -> Result<Value, CmdError> {
    let part = |s: &str| Field::Int(s.parse().unwrap_or(0));
    Ok(Value::Struct(vec![
        ("major", part(env!("CARGO_PKG_VERSION_MAJOR"))),
        ("minor", part(env!("CARGO_PKG_VERSION_MINOR"))),
        ("release", part(env!("CARGO_PKG_VERSION_PATCH"))),
        (
            "extra",
            Field::Str(env!("CARGO_PKG_VERSION_PRE").to_string()),
        ),
    ]))
}

/// libguestfs' optional groups of commands (`available-all-groups`), and whether rfish
/// implements each one yet.
pub const GROUPS: &[(&str, bool)] = &[
    ("acl", false),
    ("blkdiscard", false),
    ("blkdiscardzeroes", false),
    ("btrfs", false),
    ("extlinux", false),
    ("f2fs", false),
    ("fstrim", false),
    ("gdisk", false),
    ("grub", false),
    ("hivex", false),
    ("inotify", false),
    ("journal", false),
    ("ldm", false),
    ("linuxcaps", false),
    ("linuxfsuuid", true),
    ("linuxmodules", false),
    ("linuxxattrs", true),
    ("luks", false),
    ("lvm2", false),
    ("mdadm", false),
    ("mknod", true),
    ("ntfs3g", false),
    ("ntfsprogs", false),
    ("rsync", false),
    ("scrub", false),
    ("selinux", false),
    ("selinuxrelabel", true),
    ("sleuthkit", false),
    ("squashfs", false),
    ("syslinux", false),
    ("wipefs", false),
    ("xfs", false),
    ("xz", false),
    ("zerofree", false),
];

/// `supported`.
pub static SUPPORTED: CommandSpec = CommandSpec {
    ret: RetType::BufferOut,
    ..free(
        "supported",
        &[],
        "",
        "list supported groups of commands",
        "List the optional groups of commands and whether this rfish supports each one \
     (\"yes\" or \"no\"). Unlike guestfish, rfish answers without launching anything.",
        &["supported"],
        supported,
    )
};

fn supported(_ctx: &mut Ctx<'_>, _args: &Args) -> Result<Value, CmdError> {
    let width = GROUPS.iter().map(|(g, _)| g.len()).max().unwrap_or(0);
    let mut text = String::new();
    for (group, yes) in GROUPS {
        text.push_str(&format!(
            "{group:>width$} {}\n",
            if *yes { "yes" } else { "no" }
        ));
    }
    Ok(Value::Buffer(text.into_bytes()))
}
