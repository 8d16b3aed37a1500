//! The environment rfish gives to host commands (`!cmd`, `<!cmd`, `| cmd`, `$EDITOR`, ...).
//!
//! `setenv`/`unsetenv` change it. Changing rfish's own process environment is not sound in
//! a process that may run threads (`std::env::set_var` is `unsafe` for that reason), so
//! changes are kept here and applied to each child process, and [`get`] reads through them.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::process::Command;
use std::sync::Mutex;

/// Variables set (`Some`) or removed (`None`) by the user.
static CHANGES: Mutex<BTreeMap<String, Option<String>>> = Mutex::new(BTreeMap::new());

/// Set (`Some`) or remove (`None`) a variable for host commands.
pub fn set(var: &str, value: Option<&str>) {
    let mut changes = CHANGES
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    changes.insert(var.to_string(), value.map(str::to_string));
}

/// A variable's value as host commands will see it.
pub fn get(var: &str) -> Option<OsString> {
    let changes = CHANGES
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    match changes.get(var) {
        Some(value) => value.as_ref().map(OsString::from),
        None => std::env::var_os(var),
    }
}

/// Apply the user's changes to a command about to be spawned.
pub fn apply(cmd: &mut Command) {
    let changes = CHANGES
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    for (var, value) in changes.iter() {
        match value {
            Some(v) => cmd.env(var, v),
            None => cmd.env_remove(var),
        };
    }
}

/// A `sh -c SCRIPT` command with the user's environment changes applied.
pub fn shell(script: &[u8]) -> Command {
    use std::os::unix::ffi::OsStrExt;
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c").arg(std::ffi::OsStr::from_bytes(script));
    apply(&mut cmd);
    cmd
}
