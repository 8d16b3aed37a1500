//! Event handlers: guestfish's `event`, `list-events` and `delete-event`, and the points
//! where a session raises events.
//!
//! A handler is a shell script fragment run with `$SHELL -c` (`/bin/sh` when `SHELL` is
//! unset), the event's name in `$EVENT` and its arguments as `$1`, `$2`, ... It writes to
//! rfish's standard output — under `--listen`, the output of the `--remote` client whose
//! command raised the event.
//!
//! Which events rfish raises:
//! - `close`: when the session ends (`quit`, end of input, an error ending a script, a
//!   `--remote` server stopping), after the guest's filesystems are synced;
//! - `subprocess_quit`: when rfish's appliance is shut down;
//! - `launch_done`: after `launch`/`run`, and after the automatic launch of -i, -m and -N;
//! - `enter`: before each library call (every command but the shell's own), with the
//!   call's name (`mkdir_p`) as `$1`;
//! - `trace`: with `-x` or `set-trace true`, each trace line (`mkdir_p "/a"`) as `$1`; while a
//!   trace handler exists trace lines are not printed on standard error;
//! - `appliance`: the appliance's console output, as `$1`, when it boots.
//!
//! `progress`, `library`, `warning` and `libvirt_auth` are accepted and listed; rfish has
//! no such messages to raise yet.

use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::process::Command;

use super::fish::free;
use super::spec::{ArgKind, ArgSpec, CommandSpec, RetType, arg, declared};
use super::{Args, CmdError, Ctx, Value};

/// Event names in guestfish's bit order (`GUESTFS_EVENT_CLOSE` is bit 0, ...).
const NAMES: [&str; 10] = [
    "close",
    "subprocess_quit",
    "launch_done",
    "progress",
    "appliance",
    "library",
    "trace",
    "enter",
    "libvirt_auth",
    "warning",
];

/// One kind of event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// The session ends.
    Close,
    /// The appliance was shut down.
    SubprocessQuit,
    /// `launch` finished.
    LaunchDone,
    /// Progress of a long operation.
    Progress,
    /// Appliance console output.
    Appliance,
    /// A library debug message.
    Library,
    /// A trace line.
    Trace,
    /// A library call starts.
    Enter,
    /// libvirt wants credentials.
    LibvirtAuth,
    /// A warning.
    Warning,
}

impl Event {
    fn bit(self) -> u64 {
        1 << (self as u32)
    }

    /// The name scripts see in `$EVENT`.
    pub fn name(self) -> &'static str {
        NAMES[self as usize]
    }
}

/// Every event (`*`).
const ALL: u64 = (1 << NAMES.len()) - 1;

/// Parse an event set as guestfish does: `*`, or comma-separated names, each of which may be
/// abbreviated to a prefix (the first name in bit order that starts with it wins, so `l`
/// is `launch_done` and an empty element is `close`).
pub fn parse_event_set(arg: &str) -> Result<u64, CmdError> {
    if arg == "*" {
        return Ok(ALL);
    }
    let mut mask = 0;
    let mut rest = arg;
    while !rest.is_empty() {
        let element = rest.split(',').next().unwrap_or("");
        let bit = NAMES
            .iter()
            .position(|name| name.starts_with(element))
            .ok_or_else(|| CmdError::Fish(format!("unknown event name: {rest}\n")))?;
        mask |= 1 << bit;
        rest = &rest[element.len()..];
        rest = rest.strip_prefix(',').unwrap_or(rest);
    }
    Ok(mask)
}

/// An event set as guestfish lists it: `*` for all, else the names in alphabetical order
/// (`guestfs_event_to_string` sorts them).
pub fn format_event_set(mask: u64) -> String {
    if mask == ALL {
        return "*".into();
    }
    let mut names: Vec<&str> = NAMES
        .iter()
        .enumerate()
        .filter(|(bit, _)| mask & (1 << bit) != 0)
        .map(|(_, name)| *name)
        .collect();
    names.sort_unstable();
    names.join(",")
}

/// A registered handler.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Handler {
    name: String,
    mask: u64,
    script: String,
    /// Its event handle: the registration count before it (never reused).
    handle: usize,
}

/// The session's event handlers.
#[derive(Debug, Default, Clone)]
pub struct Events {
    /// In registration order, which is the order they run in.
    handlers: Vec<Handler>,
    /// The names in guestfish's listing order (see [`Events::listing`]).
    buckets: Vec<Vec<String>>,
    next_handle: usize,
}

/// Buckets of guestfish's name table (gnulib `hash_initialize(64)`: 64 / 0.8 rounded up
/// to a prime).
const BUCKETS: usize = 83;

/// gnulib's `hash_pjw` of a name, reduced to a bucket. `char` is signed on x86-64, so bytes
/// of 0x80 and above count as negative.
fn bucket_of(name: &str) -> usize {
    let mut h: u64 = 0;
    for &b in name.as_bytes() {
        h = (b as i8 as i64 as u64).wrapping_add(h.rotate_left(9));
    }
    (h % BUCKETS as u64) as usize
}

impl Events {
    /// Register `script` for `mask` under `name`.
    pub fn add(&mut self, name: &str, mask: u64, script: &str) {
        if !self.handlers.iter().any(|h| h.name == name) {
            if self.buckets.is_empty() {
                self.buckets = vec![Vec::new(); BUCKETS];
            }
            // gnulib puts a new entry in an empty bucket's head, else just after the head.
            let bucket = &mut self.buckets[bucket_of(name)];
            let at = bucket.len().min(1);
            bucket.insert(at, name.to_string());
        }
        self.handlers.push(Handler {
            name: name.to_string(),
            mask,
            script: script.to_string(),
            handle: self.next_handle,
        });
        self.next_handle += 1;
    }

    /// Remove every handler called `name`; false when there was none.
    pub fn delete(&mut self, name: &str) -> bool {
        let before = self.handlers.len();
        self.handlers.retain(|h| h.name != name);
        if self.handlers.len() == before {
            return false;
        }
        let bucket = &mut self.buckets[bucket_of(name)];
        bucket.retain(|n| n != name);
        true
    }

    /// Whether any handler wants `event`.
    pub fn wants(&self, event: Event) -> bool {
        self.handlers.iter().any(|h| h.mask & event.bit() != 0)
    }

    /// The handlers in guestfish's `list-events` order: names in its hash table's order
    /// (bucket by bucket; in a bucket the first name, then the others newest first), and
    /// under one name the first handler, then the others newest first. This matches
    /// guestfish until its table grows (past 66 occupied buckets).
    fn listing(&self) -> Vec<&Handler> {
        let mut out = Vec::new();
        for name in self.buckets.iter().flatten() {
            let mut same: Vec<&Handler> =
                self.handlers.iter().filter(|h| &h.name == name).collect();
            if same.len() > 1 {
                same[1..].reverse();
            }
            out.extend(same);
        }
        out
    }

    /// Run the handlers of `event`, in registration order, with `buf` (if any) and then
    /// `array` as the script's arguments. Their failures are reported and otherwise
    /// ignored, as guestfish does.
    pub fn fire(&self, event: Event, buf: Option<&[u8]>, array: &[u64]) {
        let wanted: Vec<&Handler> = self
            .handlers
            .iter()
            .filter(|h| h.mask & event.bit() != 0)
            .collect();
        if wanted.is_empty() {
            return;
        }
        let _ = std::io::stdout().flush();
        let shell = crate::hostenv::get("SHELL")
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "/bin/sh".into());
        for h in wanted {
            let mut cmd = Command::new(&shell);
            cmd.arg("-c")
                .arg(&h.script)
                .arg("")
                .env("EVENT", event.name());
            crate::hostenv::apply(&mut cmd);
            if let Some(buf) = buf {
                // A C string, as guestfish passes it: up to the first NUL.
                let text = buf.split(|&b| b == 0).next().unwrap_or_default();
                cmd.arg(std::ffi::OsStr::from_bytes(text));
            }
            for n in array {
                cmd.arg(n.to_string());
            }
            if let Err(e) = cmd.status() {
                eprintln!("event handler: {}: {e}", shell.to_string_lossy());
            }
        }
    }
}

/// `event`.
pub static EVENT: CommandSpec = free(
    "event",
    &[],
    "name eventset \"shell script ...\"",
    "register a handler for an event or events",
    "Register a shell script fragment run when an event is raised. NAME is any string \
     (even empty), used by delete-event. EVENTSET is a comma-separated list of events \
     (close, subprocess_quit, launch_done, progress, appliance, library, trace, enter, \
     libvirt_auth, warning; each may be abbreviated) or * for all. The script runs with \
     $SHELL -c (else /bin/sh), the event's name in $EVENT and its arguments as $1, $2, \
     ...: enter passes the call's name, trace the trace line, appliance the console \
     output. rfish raises close (at the end of the session, also of a --listen server), \
     subprocess_quit (its appliance shut down), launch_done, enter, trace and appliance.",
    &[
        "event closed close \"echo closed\"",
        "event \"\" enter 'echo $EVENT $1'",
    ],
    event,
);

fn event(ctx: &mut Ctx<'_>, args: &Args) -> Result<Value, CmdError> {
    if args.positional.len() != 3 {
        return Err(CmdError::Fish(
            "use 'event <name> <eventset> <script>' to register an event handler\n".into(),
        ));
    }
    let mask = parse_event_set(&args.text(1))?;
    ctx.session.events.add(&args.text(0), mask, &args.text(2));
    Ok(Value::Unit)
}

/// `list-events`.
pub static LIST_EVENTS: CommandSpec = CommandSpec {
    ret: RetType::BufferOut,
    ..free(
        "list-events",
        &[],
        "",
        "list event handlers",
        "List the event handlers registered with event: \"NAME\" (HANDLE): EVENTS: SCRIPT.",
        &["list-events"],
        list_events,
    )
};

fn list_events(ctx: &mut Ctx<'_>, args: &Args) -> Result<Value, CmdError> {
    if !args.positional.is_empty() {
        return Err(CmdError::Fish(
            "use \u{2018}list-events\u{2019} to list event handlers\n".into(),
        ));
    }
    let mut text = Vec::new();
    for h in ctx.session.events.listing() {
        text.extend_from_slice(
            format!(
                "\"{}\" ({}): {}: {}\n",
                h.name,
                h.handle,
                format_event_set(h.mask),
                h.script
            )
            .as_bytes(),
        );
    }
    Ok(Value::Buffer(text))
}

/// `delete-event`.
pub static DELETE_EVENT: CommandSpec = free(
    "delete-event",
    &[],
    "name",
    "delete a previously registered event handler",
    "Delete the event handlers registered under NAME.",
    &["delete-event closed"],
    delete_event,
);

fn delete_event(ctx: &mut Ctx<'_>, args: &Args) -> Result<Value, CmdError> {
    if args.positional.len() != 1 {
        return Err(CmdError::Fish(
            "use 'delete-event <name>' to delete an event handler\n".into(),
        ));
    }
    let name = args.text(0);
    if !ctx.session.events.delete(&name) {
        return Err(CmdError::Fish(format!(
            "delete-event: {name}: no such event handler\n"
        )));
    }
    Ok(Value::Unit)
}

static TRACE: &[ArgSpec] = &[arg("trace", ArgKind::Bool)];

/// `set-trace`.
pub static SET_TRACE: CommandSpec = declared(
    "set-trace",
    TRACE,
    RetType::Err,
    "enable or disable command traces",
    "Trace each command from now on (as -x does): its name and arguments go to the trace \
     event handlers when there are some, else to standard error as \
     `libguestfs: trace: NAME \"ARG\" ...`.",
    &["set-trace true"],
    |ctx, args| {
        ctx.session.trace = args.bool(0);
        Ok(Value::Unit)
    },
);

/// `get-trace`.
pub static GET_TRACE: CommandSpec = declared(
    "get-trace",
    &[],
    RetType::Bool,
    "get command trace enabled flag",
    "Whether commands are traced (-x or set-trace).",
    &["get-trace"],
    |ctx, _| Ok(Value::Bool(ctx.session.trace)),
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_sets_parse_as_guestfish_does() {
        assert_eq!(parse_event_set("*"), Ok(ALL));
        assert_eq!(parse_event_set("close"), Ok(Event::Close.bit()));
        assert_eq!(
            parse_event_set("close,trace,launch"),
            Ok(Event::Close.bit() | Event::Trace.bit() | Event::LaunchDone.bit())
        );
        // Prefixes, the first match in bit order, and empty elements (which match close).
        assert_eq!(parse_event_set("l"), Ok(Event::LaunchDone.bit()));
        assert_eq!(parse_event_set("lib"), Ok(Event::Library.bit()));
        assert_eq!(
            parse_event_set(",trace"),
            Ok(Event::Close.bit() | Event::Trace.bit())
        );
        assert_eq!(parse_event_set(""), Ok(0));
        assert_eq!(
            parse_event_set("close,closex,trace"),
            Err(CmdError::Fish("unknown event name: closex,trace\n".into()))
        );
        assert_eq!(format_event_set(ALL), "*");
        assert_eq!(
            format_event_set(Event::Trace.bit() | Event::Close.bit() | Event::LaunchDone.bit()),
            "close,launch_done,trace"
        );
        assert_eq!(
            format_event_set(Event::Progress.bit() | Event::Library.bit()),
            "library,progress"
        );
        assert_eq!(format_event_set(0), "");
    }

    fn listed(events: &Events) -> Vec<(String, usize)> {
        events
            .listing()
            .into_iter()
            .map(|h| (h.name.clone(), h.handle))
            .collect()
    }

    #[test]
    fn listing_follows_guestfishs_hash_table() {
        let mut e = Events::default();
        // "a" and "aC" share a bucket (97 and 97 * 512 + 67 are both 14 mod 83).
        assert_eq!(bucket_of("a"), bucket_of("aC"));
        for name in ["b", "a", "aC", "a", "", "a", "aC"] {
            e.add(name, ALL, "x");
        }
        let names = |v: Vec<(String, usize)>| {
            v.into_iter()
                .map(|(n, h)| format!("{n}{h}"))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names(listed(&e)),
            ["4", "a1", "a5", "a3", "aC2", "aC6", "b0"]
        );
        // Deleting a bucket's head makes the next entry the head.
        assert!(e.delete("a"));
        assert!(!e.delete("a"));
        e.add("a", ALL, "y");
        assert_eq!(names(listed(&e)), ["4", "aC2", "aC6", "a7", "b0"]);
    }
}
