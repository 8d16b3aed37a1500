//! The shell: turns lines into commands and decides what an error means.
//!
//! Lines come from a [`LineSource`]: the interactive REPL ([`repl`]), a script on standard
//! input or in a `-f` file ([`ScriptSource`]), or the output of `<!cmd`. The same source
//! supplies here-document bodies (`-<<END`). In scripts the first failing line stops rfish
//! with exit status 1 unless it has the `-` prefix; interactively nothing exits.

mod host;
pub mod repl;

use std::io::{self, BufRead, Write};

use crate::commands::{self, ArgKind, CmdError, Ctx};
use crate::parse::{self, LineKind, Quoting};
use crate::remote;
use crate::session::{Location, Session};

/// Where lines come from.
pub trait LineSource {
    /// The next line without its newline, or `None` at the end of input. `continuation` is
    /// set when a here-document body is being read.
    fn next_line(&mut self, continuation: bool) -> Option<Vec<u8>>;

    /// Called before the first line and after each line has run, so an interactive source
    /// can follow the session (the REPL completes guest paths from the mount table).
    fn session_changed(&mut self, _session: &Session) {}
}

/// Lines of a script: standard input or a `-f` file.
pub struct ScriptSource<R: BufRead> {
    reader: R,
}

impl<R: BufRead> ScriptSource<R> {
    /// Read lines from `reader`.
    pub fn new(reader: R) -> Self {
        ScriptSource { reader }
    }
}

impl<R: BufRead> LineSource for ScriptSource<R> {
    fn next_line(&mut self, _continuation: bool) -> Option<Vec<u8>> {
        let mut line = Vec::new();
        match self.reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => None,
            Ok(_) => {
                if line.last() == Some(&b'\n') {
                    line.pop();
                }
                Some(line)
            }
        }
    }
}

/// Lines already in memory (the output of `<!cmd`).
struct MemorySource(std::vec::IntoIter<Vec<u8>>);

impl LineSource for MemorySource {
    fn next_line(&mut self, _continuation: bool) -> Option<Vec<u8>> {
        self.0.next()
    }
}

/// What running a line came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The line succeeded (or had nothing to do).
    Ok,
    /// The line failed; its error has been reported.
    Failed,
}

/// The shell's state besides the session: where lines come from and how errors end things.
pub struct Shell {
    /// The session commands act on.
    pub session: Session,
    /// Interactive mode: errors never end rfish, and parse errors get a caret under the
    /// offending byte. Otherwise (scripts) an error on a line without `-` ends rfish with
    /// status 1.
    pub interactive: bool,
    /// Name used in `FILE:LINE:` prefixes (`*stdin*` or the `-f` file), in script mode.
    pub input_name: Option<String>,
    /// Lines read so far.
    pub lineno: usize,
    /// Printed after the welcome banner in interactive mode (-i's operating system and
    /// mountpoints).
    pub banner_extra: String,
    /// `--remote`: the PID of the `--listen` server that runs the commands.
    pub remote: Option<u32>,
}

/// rfish must exit now with this status (an error in a script).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exit(pub i32);

impl Shell {
    /// A shell around `session`.
    pub fn new(session: Session, interactive: bool) -> Self {
        Shell {
            session,
            interactive,
            input_name: None,
            lineno: 0,
            banner_extra: String::new(),
            remote: None,
        }
    }

    /// Run every line of `source` until its end, `quit`, or (in scripts) the first error.
    pub fn run_source(&mut self, source: &mut dyn LineSource) -> Result<(), Exit> {
        source.session_changed(&self.session);
        while !self.session.quit {
            let Some(line) = source.next_line(false) else {
                break;
            };
            self.lineno += 1;
            self.run_line(&line, source, !self.interactive)?;
            source.session_changed(&self.session);
        }
        Ok(())
    }

    /// Parse and run one line. `Err(Exit(1))` when it failed and errors are fatal.
    pub fn run_line(
        &mut self,
        line: &[u8],
        source: &mut dyn LineSource,
        exit_on_error: bool,
    ) -> Result<Outcome, Exit> {
        self.session.location = self.input_name.as_ref().map(|file| Location {
            file: file.clone(),
            line: self.lineno,
        });
        let parsed = match parse::parse_line(line) {
            Ok(parsed) => parsed,
            Err(e) => {
                self.report_parse_error(line, &e);
                return conclude(Outcome::Failed, exit_on_error && !e.ignore_errors);
            }
        };
        let exit_on_error = exit_on_error && !parsed.ignore_errors;
        let outcome = match parsed.kind {
            LineKind::Nothing => Outcome::Ok,
            LineKind::Host(script) => match host::run_bang(&script) {
                Ok(true) => Outcome::Ok,
                Ok(false) => Outcome::Failed,
                Err(e) => {
                    eprintln!("rfish: !: {e}");
                    Outcome::Failed
                }
            },
            LineKind::Inline(script) => self.run_inline(&script, exit_on_error)?,
            LineKind::Call(call) => {
                let spec = commands::lookup(&call.name);
                match self.prepare_words(spec, &call, source) {
                    Ok(words) => self.issue(
                        &call.name,
                        &words.words,
                        call.pipe.as_deref(),
                        exit_on_error,
                    ),
                    Err(e) => {
                        commands::report(&self.session, &e);
                        Outcome::Failed
                    }
                }
            }
        };
        conclude(outcome, exit_on_error)
    }

    /// `<!cmd`: run it and execute each line of its output here, with the same error rule.
    fn run_inline(&mut self, script: &[u8], exit_on_error: bool) -> Result<Outcome, Exit> {
        let (output, success) = match host::run_capture(script) {
            Ok(result) => result,
            Err(e) => {
                eprintln!("rfish: <!: {e}");
                return Ok(Outcome::Failed);
            }
        };
        let body = output.strip_suffix(b"\n").unwrap_or(&output);
        // An empty output is one empty line, which does nothing.
        let lines: Vec<Vec<u8>> = body.split(|&c| c == b'\n').map(<[u8]>::to_vec).collect();
        let mut lines = MemorySource(lines.into_iter());
        while let Some(line) = lines.next_line(false) {
            self.run_line(&line, &mut lines, exit_on_error)?;
            if self.session.quit {
                break;
            }
        }
        if !success {
            eprintln!("rfish: <!: the host command failed");
            return Ok(Outcome::Failed);
        }
        Ok(Outcome::Ok)
    }

    /// Expand `~` in bare words and read here-documents for FileIn arguments.
    fn prepare_words(
        &mut self,
        spec: Option<&commands::CommandSpec>,
        call: &parse::Call,
        source: &mut dyn LineSource,
    ) -> Result<PreparedWords, CmdError> {
        let mut prepared = PreparedWords::default();
        for (i, word) in call.args.iter().enumerate() {
            let kind = spec.and_then(|s| s.args.get(i)).map(|a| a.kind);
            let text = if word.quoting == Quoting::Bare {
                parse::tilde::expand_tilde(&word.text)
            } else {
                word.text.clone()
            };
            let text = match (kind, text.strip_prefix(b"-<<")) {
                (Some(ArgKind::FileIn), Some(marker)) => {
                    let file = self.read_heredoc(marker, source)?;
                    let path = file.path().as_os_str().as_encoded_bytes().to_vec();
                    prepared.heredocs.push(file);
                    path
                }
                _ => text,
            };
            prepared.words.push(text);
        }
        Ok(prepared)
    }

    /// Read lines up to one equal to `marker` into a temporary file.
    fn read_heredoc(
        &mut self,
        marker: &[u8],
        source: &mut dyn LineSource,
    ) -> Result<tempfile::NamedTempFile, CmdError> {
        if marker.is_empty() {
            return Err(CmdError::Fish(
                "rfish: missing end marker in -<< expression\n".into(),
            ));
        }
        let mut file = tempfile::NamedTempFile::new()
            .map_err(|e| CmdError::Api(format!("here-document: {e}")))?;
        loop {
            let Some(line) = source.next_line(true) else {
                return Err(CmdError::Fish(format!(
                    "rfish: end of input reached without finding '{}'\n",
                    String::from_utf8_lossy(marker)
                )));
            };
            self.lineno += 1;
            if line == marker {
                break;
            }
            file.write_all(&line)
                .and_then(|()| file.write_all(b"\n"))
                .map_err(|e| CmdError::Api(format!("here-document: {e}")))?;
        }
        Ok(file)
    }

    /// Run a command, its output going to standard output or to `pipe`: here, or in the
    /// `--listen` server this shell is a client of, which stops when the command fails and
    /// `exit_on_error` is set.
    pub fn issue(
        &mut self,
        name: &str,
        words: &[Vec<u8>],
        pipe: Option<&[u8]>,
        exit_on_error: bool,
    ) -> Outcome {
        if let Some(server) = self.remote {
            return self.issue_remote(server, name, words, pipe, exit_on_error);
        }
        let result = match pipe {
            None => {
                let mut stdout = io::stdout().lock();
                let mut ctx = Ctx {
                    session: &mut self.session,
                    out: &mut stdout,
                };
                commands::run(&mut ctx, name, words)
            }
            Some(script) => self.issue_piped(name, words, script),
        };
        match result {
            Ok(()) => Outcome::Ok,
            Err(e) => {
                commands::report(&self.session, &e);
                Outcome::Failed
            }
        }
    }

    /// Run a command in server `server` (`--remote`); `quit` ends this shell too.
    fn issue_remote(
        &mut self,
        server: u32,
        name: &str,
        words: &[Vec<u8>],
        pipe: Option<&[u8]>,
        exit_on_error: bool,
    ) -> Outcome {
        use std::os::fd::AsFd;
        let call = remote::wire::Call {
            name: name.as_bytes().to_vec(),
            args: words.to_vec(),
            exit_on_error,
            colour: colored::control::SHOULD_COLORIZE.should_colorize(),
        };
        let result = match pipe {
            None => remote::client::call(server, call, io::stdout().as_fd()),
            Some(script) => match host::PipeSink::spawn(script) {
                Ok(sink) => {
                    let result = match sink.fd() {
                        Some(fd) => remote::client::call(server, call, fd),
                        None => Err(remote::client::RemoteError("rfish: pipe: closed".into())),
                    };
                    let _ = sink.finish();
                    result
                }
                Err(e) => Err(remote::client::RemoteError(format!("rfish: pipe: {e}"))),
            },
        };
        if commands::lookup(name).is_some_and(|spec| spec.name == "quit") {
            self.session.quit = true;
        }
        match result {
            Ok(0) => Outcome::Ok,
            Ok(_) => Outcome::Failed,
            Err(remote::client::RemoteError(msg)) => {
                use colored::Colorize;
                eprintln!("{}", msg.red());
                Outcome::Failed
            }
        }
    }

    fn issue_piped(
        &mut self,
        name: &str,
        words: &[Vec<u8>],
        script: &[u8],
    ) -> Result<(), CmdError> {
        let mut sink =
            host::PipeSink::spawn(script).map_err(|e| CmdError::Api(format!("pipe: {e}")))?;
        let result = commands::run(
            &mut Ctx {
                session: &mut self.session,
                out: &mut sink,
            },
            name,
            words,
        );
        let write_failed = sink.write_failed;
        let status = sink.finish();
        result?;
        if self.session.pipe_error {
            if write_failed {
                return Err(CmdError::Api(format!("{name}: write to pipe failed")));
            }
            match status {
                Ok(s) if s.success() => {}
                Ok(s) => {
                    return Err(CmdError::Api(format!("pipe command failed: {s}")));
                }
                Err(e) => return Err(CmdError::Api(format!("waiting for pipe command: {e}"))),
            }
        }
        Ok(())
    }

    fn report_parse_error(&self, line: &[u8], e: &parse::ParseError) {
        use colored::Colorize;
        let mut msg = format!("rfish: {e}\n");
        if self.interactive {
            // Show where: the line and a caret under the byte where the problem was found.
            // Tabs stay tabs so the caret lines up with what the terminal shows.
            let shown = String::from_utf8_lossy(line);
            let pad: String = String::from_utf8_lossy(&line[..e.offset.min(line.len())])
                .chars()
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            msg.push_str(&format!("  {shown}\n  {pad}^\n"));
        }
        let mut stderr = io::stderr().lock();
        let _ = write!(stderr, "{}", msg.red());
    }
}

/// A line that failed ends rfish when its errors are fatal.
fn conclude(outcome: Outcome, exit_on_error: bool) -> Result<Outcome, Exit> {
    if outcome == Outcome::Failed && exit_on_error {
        Err(Exit(1))
    } else {
        Ok(outcome)
    }
}

/// A call's words after expansion, plus the here-document files that must outlive it.
#[derive(Default)]
struct PreparedWords {
    words: Vec<Vec<u8>>,
    heredocs: Vec<tempfile::NamedTempFile>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::UPLOAD_LIKE;

    fn call_of(line: &str) -> parse::Call {
        match parse::parse_line(line.as_bytes()).expect("parses").kind {
            LineKind::Call(call) => call,
            other => panic!("not a call: {other:?}"),
        }
    }

    fn source(text: &'static str) -> ScriptSource<&'static [u8]> {
        ScriptSource::new(text.as_bytes())
    }

    #[test]
    fn heredoc_reads_following_lines_up_to_the_marker() {
        let mut shell = Shell::new(Session::default(), false);
        let mut lines = source("line one\n  indented END\nEND\necho after\n");
        let call = call_of("upload-like -<<END /etc/motd");
        let prepared = shell
            .prepare_words(Some(&UPLOAD_LIKE), &call, &mut lines)
            .expect("heredoc read");
        let path = String::from_utf8(prepared.words[0].clone()).expect("utf-8 path");
        assert_eq!(
            std::fs::read_to_string(&path).expect("heredoc file"),
            "line one\n  indented END\n"
        );
        assert_eq!(prepared.words[1], b"/etc/motd");
        assert_eq!(shell.lineno, 3, "here-document lines count as script lines");
        assert_eq!(lines.next_line(false), Some(b"echo after".to_vec()));
        drop(prepared);
        assert!(
            !std::path::Path::new(&path).exists(),
            "the file goes with the call"
        );
    }

    #[test]
    fn heredoc_without_its_marker_is_an_error() {
        let mut shell = Shell::new(Session::default(), false);
        let call = call_of("upload-like -<<EOF /x");
        let err = shell
            .prepare_words(Some(&UPLOAD_LIKE), &call, &mut source("a\nb\n"))
            .err();
        assert_eq!(
            err,
            Some(CmdError::Fish(
                "rfish: end of input reached without finding 'EOF'\n".into()
            ))
        );
        let call = call_of("upload-like -<< /x");
        let err = shell
            .prepare_words(Some(&UPLOAD_LIKE), &call, &mut source(""))
            .err();
        assert_eq!(
            err,
            Some(CmdError::Fish(
                "rfish: missing end marker in -<< expression\n".into()
            ))
        );
    }

    #[test]
    fn heredocs_are_read_for_filein_only() {
        let mut shell = Shell::new(Session::default(), false);
        // Without a FileIn declaration the word is left alone.
        let prepared = shell
            .prepare_words(None, &call_of("echo -<<END"), &mut source(""))
            .expect("ok");
        assert_eq!(prepared.words, vec![b"-<<END".to_vec()]);
    }
}
