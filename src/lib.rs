//! rfish: a guestfish-compatible shell for virtual machine disk images.
//!
//! The binary is a thin wrapper around [`cli::main`]. The layers (see
//! `../shared/design.md` in the project's steering notes, and README.md):
//!
//! - [`parse`]: the guestfish line grammar and typed argument values;
//! - [`commands`]: the command registry, argument checking, handlers and the output printer;
//! - [`shell`]: scripts, the interactive REPL, host commands and pipes;
//! - [`session`]: state carried between commands;
//! - [`remote`]: `--listen`/`--remote`, a session kept in a server for many commands.

pub mod appliance;
pub mod block;
pub mod bytes;
pub mod cli;
pub mod colour;
pub mod commands;
pub mod fs;
pub mod hostenv;
pub mod inspect;
pub mod lvm;
pub mod parse;
pub mod part;
pub mod remote;
pub mod selinux;
pub mod session;
pub mod shell;

/// The text of an OS error as C's `strerror` gives it (no " (os error N)" suffix).
pub fn os_error_text(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error ") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}
