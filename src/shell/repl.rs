//! The interactive shell: rustyline with rfish's prompt, history in `~/.rfish`, and
//! completion driven by the command registry.
//!
//! Completion is layered: the first word completes to command names and aliases; later words
//! complete to the command's optional argument names (`name:`) and to whatever the
//! [`ArgCompleter`]s registered for the argument's kind offer ([`GuestPaths`] completes guest
//! paths from the mount table).

use std::borrow::Cow;
use std::path::PathBuf;

use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::Validator;
use rustyline::{Context, Editor, Helper};

use super::{LineSource, Shell};
use crate::commands::{ArgKind, Arity, registry};
use crate::parse;

/// The default prompt.
pub const PROMPT: &str = "><fs> ";

/// Offers completions for arguments of one kind (guest paths, devices, ...).
pub trait ArgCompleter {
    /// Candidates for an argument of `kind` that starts with `prefix`.
    fn complete(&self, kind: ArgKind, prefix: &str) -> Vec<String>;
}

/// rustyline's helper: completion plus the coloured prompt.
pub struct RfishHelper {
    /// Extra completers for argument values.
    pub arg_completers: Vec<Box<dyn ArgCompleter>>,
    /// Colour the prompt.
    pub colour: bool,
}

impl RfishHelper {
    /// Candidates for the word being typed in `line` up to `pos`: (start of word, candidates).
    pub fn candidates(&self, line: &str, pos: usize) -> (usize, Vec<String>) {
        let before = &line[..pos];
        let mut start = before.rfind([' ', '\t']).map_or(0, |i| i + 1);
        let head = before[..start]
            .trim_start()
            .trim_start_matches('-')
            .trim_start();
        if head.is_empty() {
            // The `-` prefix (ignore errors) is not part of the command name.
            start += before[start..].len() - before[start..].trim_start_matches('-').len();
        }
        let prefix = &before[start..];
        let mut out: Vec<String> = Vec::new();
        if head.is_empty() {
            let wanted = prefix.to_ascii_lowercase().replace('_', "-");
            for spec in registry() {
                for name in spec.names() {
                    if name.starts_with(&wanted) {
                        out.push(name.to_string());
                    }
                }
            }
        } else {
            let words = parse::parse_line(head.as_bytes())
                .ok()
                .and_then(|l| match l.kind {
                    parse::LineKind::Call(call) => Some(call),
                    _ => None,
                });
            if let Some(spec) = words
                .as_ref()
                .and_then(|c| crate::commands::lookup(&c.name))
            {
                let index = words.as_ref().map_or(0, |c| c.args.len());
                if spec.arity == Arity::Declared {
                    if let Some(a) = spec.args.get(index) {
                        for c in &self.arg_completers {
                            out.extend(c.complete(a.kind, prefix));
                        }
                    } else {
                        for o in spec.optargs {
                            let candidate = format!("{}:", o.name);
                            if candidate.starts_with(prefix) {
                                out.push(candidate);
                            }
                        }
                    }
                } else if spec.name == "help" || spec.name == "time" || spec.name == "not" {
                    // These take a command name as their first word.
                    if index == 0 {
                        for s in registry() {
                            out.extend(
                                s.names()
                                    .filter(|n| n.starts_with(prefix))
                                    .map(String::from),
                            );
                        }
                    }
                }
            }
        }
        out.sort();
        out.dedup();
        (start, out)
    }
}

impl Completer for RfishHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let (start, names) = self.candidates(line, pos);
        let pairs = names
            .into_iter()
            .map(|n| {
                let replacement = if n.ends_with(':') || n.ends_with('/') {
                    n.clone()
                } else {
                    format!("{n} ")
                };
                Pair {
                    display: n,
                    replacement,
                }
            })
            .collect();
        Ok((start, pairs))
    }
}

impl Hinter for RfishHelper {
    type Hint = String;
}

impl Highlighter for RfishHelper {
    fn highlight_prompt<'b, 's: 'b, 'p: 'b>(
        &'s self,
        prompt: &'p str,
        default: bool,
    ) -> Cow<'b, str> {
        if self.colour && default {
            use colored::Colorize;
            Cow::Owned(prompt.bold().green().to_string())
        } else {
            Cow::Borrowed(prompt)
        }
    }
}

impl Validator for RfishHelper {}

impl Helper for RfishHelper {}

/// The history file: `~/.rfish`.
fn history_path() -> Option<PathBuf> {
    crate::hostenv::get("HOME").map(|home| PathBuf::from(home).join(".rfish"))
}

/// Completes guest paths from a copy of the session's mount table (refreshed after each
/// line): the entries of the directory typed so far, directories with a trailing `/`.
pub struct GuestPaths {
    vfs: std::sync::Arc<std::sync::Mutex<crate::fs::vfs::Vfs>>,
}

impl ArgCompleter for GuestPaths {
    fn complete(&self, kind: ArgKind, prefix: &str) -> Vec<String> {
        if kind != ArgKind::Path || !prefix.starts_with('/') {
            return Vec::new();
        }
        let Ok(vfs) = self.vfs.lock() else {
            return Vec::new();
        };
        let cut = prefix.rfind('/').map_or(0, |i| i + 1);
        let (dir, stem) = prefix.split_at(cut);
        let Ok(node) = vfs.resolve(dir, true) else {
            return Vec::new();
        };
        let Ok(entries) = vfs.fs(&node).read_dir(node.ino) else {
            return Vec::new();
        };
        entries
            .into_iter()
            .filter(|e| e.name.starts_with(stem.as_bytes()))
            .map(|e| {
                let name = String::from_utf8_lossy(&e.name);
                let full = format!("{dir}{name}");
                let is_dir = vfs
                    .resolve(&full, true)
                    .and_then(|n| vfs.stat(&n))
                    .is_ok_and(|st| st.file_type() == crate::fs::FileType::Directory);
                if is_dir { format!("{full}/") } else { full }
            })
            .collect()
    }
}

/// Lines typed at the prompt.
struct ReplSource {
    editor: Editor<RfishHelper, DefaultHistory>,
    prompt: String,
    vfs: std::sync::Arc<std::sync::Mutex<crate::fs::vfs::Vfs>>,
}

impl LineSource for ReplSource {
    fn session_changed(&mut self, session: &crate::session::Session) {
        if let Ok(mut v) = self.vfs.lock() {
            *v = session.vfs.clone();
        }
    }

    fn next_line(&mut self, continuation: bool) -> Option<Vec<u8>> {
        let prompt = if continuation {
            ""
        } else {
            self.prompt.as_str()
        };
        loop {
            match self.editor.readline(prompt) {
                Ok(line) => {
                    if !continuation && !line.trim().is_empty() {
                        let _ = self.editor.add_history_entry(line.as_str());
                    }
                    return Some(line.into_bytes());
                }
                // Ctrl-C abandons the line being typed; the shell carries on.
                Err(ReadlineError::Interrupted) => {
                    if continuation {
                        return None;
                    }
                }
                Err(_) => return None,
            }
        }
    }
}

/// The banner printed when an interactive session starts.
pub const BANNER: &str = "\nWelcome to rfish, the guestfish-compatible shell for virtual machine\n\
                          disk images.\n\n\
                          Type: 'help' for help on commands\n      \
                          'quit' to quit the shell\n\n";

/// Run the interactive shell until `quit` or end of input.
pub fn run(shell: &mut Shell, colour: bool) -> anyhow::Result<()> {
    let config = rustyline::Config::builder()
        .auto_add_history(false)
        .completion_type(rustyline::CompletionType::List)
        .max_history_size(1000)?
        .build();
    let mut editor: Editor<RfishHelper, DefaultHistory> = Editor::with_config(config)?;
    let vfs = std::sync::Arc::new(std::sync::Mutex::new(shell.session.vfs.clone()));
    editor.set_helper(Some(RfishHelper {
        arg_completers: vec![Box::new(GuestPaths { vfs: vfs.clone() })],
        colour,
    }));
    let history = history_path();
    if let Some(path) = &history {
        let _ = editor.load_history(path);
    }
    let prompt = crate::hostenv::get("RFISH_PS1")
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|| PROMPT.to_string());
    print!("{BANNER}{}", shell.banner_extra);
    let mut source = ReplSource {
        editor,
        prompt,
        vfs,
    };
    // Interactive errors never end the session.
    let _ = shell.run_source(&mut source);
    if let Some(path) = &history {
        let _ = source.editor.save_history(path);
    }
    println!();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn helper() -> RfishHelper {
        RfishHelper {
            arg_completers: Vec::new(),
            colour: false,
        }
    }

    #[test]
    fn first_word_completes_command_names() {
        let (start, c) = helper().candidates("ver", 3);
        assert_eq!((start, c), (0, vec!["version".to_string()]));
        let (start, c) = helper().candidates("  -uns", 6);
        assert_eq!((start, c), (3, vec!["unsetenv".to_string()]));
        // Aliases complete too, as in guestfish.
        let (_, c) = helper().candidates("unm", 3);
        assert_eq!(c, vec!["unmount".to_string(), "unmount-all".to_string()]);
    }

    #[test]
    fn help_completes_a_command_name() {
        let (start, c) = helper().candidates("help ech", 8);
        assert_eq!(
            (start, c),
            (5, vec!["echo".to_string(), "echo-daemon".to_string()])
        );
    }

    struct Fixed;
    impl ArgCompleter for Fixed {
        fn complete(&self, _kind: ArgKind, prefix: &str) -> Vec<String> {
            ["/etc", "/home"]
                .iter()
                .filter(|p| p.starts_with(prefix))
                .map(|s| s.to_string())
                .collect()
        }
    }

    #[test]
    fn argument_completers_plug_in() {
        let mut h = helper();
        h.arg_completers.push(Box::new(Fixed));
        // launch takes no arguments, so nothing is offered after it.
        assert!(h.candidates("launch /e", 9).1.is_empty());
    }
}
