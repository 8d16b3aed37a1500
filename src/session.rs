//! The state of one rfish session: what guestfish keeps in its handle and globals.

/// A drive named with `-a` (opened by the block layer once it exists).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriveSpec {
    /// The image file or URI as given.
    pub path: String,
    /// `--format=` in force when it was added (`None`: probe).
    pub format: Option<String>,
    /// Added under `--ro`.
    pub read_only: bool,
}

/// Where the line being run came from, for `FILE:LINE:` error prefixes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// `*stdin*` or the `-f` file name.
    pub file: String,
    /// 1-based line number; 0 for commands given on the command line.
    pub line: usize,
}

/// Everything a session carries from one command to the next.
#[derive(Debug, Default)]
pub struct Session {
    /// Drives added so far.
    pub drives: Vec<DriveSpec>,
    /// `--ro`.
    pub read_only: bool,
    /// `-x`: trace each command on standard error.
    pub trace: bool,
    /// `-v`, repeatable.
    pub verbose: u8,
    /// `--network`.
    pub network: bool,
    /// `run`/`launch` has been issued.
    pub launched: bool,
    /// `quit`/`exit`/`q` was run.
    pub quit: bool,
    /// Commands issued so far (guestfish's `command_num`: the first unknown command gets a
    /// longer hint).
    pub command_num: usize,
    /// Set in scripts: errors are prefixed with this location.
    pub location: Option<Location>,
    /// `--pipe-error`: a failing `| host-cmd` makes the command fail.
    pub pipe_error: bool,
}

impl Session {
    /// A fresh session, as `reopen` makes one: options carry over, drives and state do not.
    pub fn reopened(&self) -> Session {
        Session {
            read_only: self.read_only,
            trace: self.trace,
            verbose: self.verbose,
            network: self.network,
            location: self.location.clone(),
            pipe_error: self.pipe_error,
            command_num: self.command_num,
            ..Session::default()
        }
    }
}
