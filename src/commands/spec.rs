//! The declaration of one command: everything help, completion, argument checking and the
//! output printer need to know, in one place next to the handler.

use super::{Args, Ctx, Value};
use crate::commands::CmdError;

/// A command's handler: checked arguments in, a value of the declared return type out.
pub type Handler = fn(&mut Ctx<'_>, &Args) -> Result<Value, CmdError>;

/// The type of an argument, as libguestfs' generator names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgKind {
    /// Any string.
    String,
    /// A string where `""` means "not given".
    OptString,
    /// A guest path: must start with `/`.
    Path,
    /// A device name such as `/dev/sda1`.
    Device,
    /// A 32-bit signed integer (C radix, size suffixes).
    Int,
    /// A 64-bit signed integer.
    Int64,
    /// `true`/`false` and friends.
    Bool,
    /// A list of words in one argument, `'...'` grouping.
    StringList,
    /// A host file to read, `-` for standard input, `-<<END` for a here-document.
    FileIn,
    /// A host file to write, `-` for standard output.
    FileOut,
}

/// One argument (required or optional).
#[derive(Debug, Clone, Copy)]
pub struct ArgSpec {
    /// The name used in synopses, errors and `name:value` optional arguments.
    pub name: &'static str,
    /// Its type.
    pub kind: ArgKind,
}

/// Shorthand for building argument tables.
pub const fn arg(name: &'static str, kind: ArgKind) -> ArgSpec {
    ArgSpec { name, kind }
}

/// How many positional words a command takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arity {
    /// Exactly the declared arguments, then optional `name:value` arguments.
    Declared,
    /// Any number of words, passed as strings: fish-only commands that check for themselves.
    Free,
}

/// The return type, which alone decides how the result is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetType {
    /// Nothing is printed.
    Err,
    /// `%d`.
    Int,
    /// `%" PRIi64 "`.
    Int64,
    /// An integer guestfish prints in hexadecimal (`0x83`).
    IntHex,
    /// `true` / `false`.
    Bool,
    /// The string plus a newline.
    String,
    /// One line per string.
    StringList,
    /// `key: value` lines.
    Hashtable,
    /// `field: value` lines.
    Struct,
    /// `[i] = {` blocks of indented `field: value` lines.
    StructList,
    /// Raw bytes, nothing added.
    BufferOut,
}

/// A command: declared once, here, and everything else is derived from it.
#[derive(Debug)]
pub struct CommandSpec {
    /// The canonical name (with `-`).
    pub name: &'static str,
    /// Other names accepted for it.
    pub aliases: &'static [&'static str],
    /// Required arguments, in order.
    pub args: &'static [ArgSpec],
    /// Optional `name:value` arguments.
    pub optargs: &'static [ArgSpec],
    /// Declared or free arity.
    pub arity: Arity,
    /// For free-arity commands: the synopsis printed by `help CMD` (after the name).
    pub free_synopsis: &'static str,
    /// What is printed, and how.
    pub ret: RetType,
    /// The one-line description shown by `help -l`.
    pub shortdesc: &'static str,
    /// The long description shown by `help CMD`, as paragraphs separated by blank lines.
    pub longdesc: &'static str,
    /// Example lines; each is run by a test.
    pub examples: &'static [&'static str],
    /// The code.
    pub handler: Handler,
}

impl CommandSpec {
    /// `name arg1 arg2 [opt:..]`: guestfish's synopsis line.
    pub fn synopsis(&self) -> String {
        let mut s = String::from(self.name);
        if self.arity == Arity::Free {
            if !self.free_synopsis.is_empty() {
                s.push(' ');
                s.push_str(self.free_synopsis);
            }
            return s;
        }
        for a in self.args {
            s.push(' ');
            s.push_str(a.name);
        }
        for o in self.optargs {
            s.push_str(" [");
            s.push_str(o.name);
            s.push(':');
            s.push_str(optarg_placeholder(o));
            s.push(']');
        }
        s
    }

    /// Every name this command answers to, canonical name first.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        std::iter::once(self.name).chain(self.aliases.iter().copied())
    }
}

/// What guestfish shows after `name:` in a synopsis.
fn optarg_placeholder(o: &ArgSpec) -> &'static str {
    match o.kind {
        ArgKind::Bool => "true|false",
        ArgKind::Int | ArgKind::Int64 => "N",
        _ => "..",
    }
}

/// A command with declared arguments and neither aliases nor optional arguments.
pub const fn declared(
    name: &'static str,
    args: &'static [ArgSpec],
    ret: RetType,
    shortdesc: &'static str,
    longdesc: &'static str,
    examples: &'static [&'static str],
    handler: Handler,
) -> CommandSpec {
    CommandSpec {
        name,
        aliases: &[],
        args,
        optargs: &[],
        arity: Arity::Declared,
        free_synopsis: "",
        ret,
        shortdesc,
        longdesc,
        examples,
        handler,
    }
}

/// The library name of a command, as errors print it (`part_add` for `part-add`).
pub fn func_name(cmd: &str) -> String {
    cmd.replace('-', "_")
}
