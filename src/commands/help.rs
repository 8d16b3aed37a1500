//! `help`, `help -l`, `help CMD` and `rfish -h [CMD]`, all generated from the registry.

use std::fmt::Write as _;

use super::spec::{Arity, CommandSpec, RetType};
use super::{Args, CmdError, Ctx, Value, lookup, registry};

/// Width of the text of a `help CMD` page, after its four-space indent (pod2text's 76 columns).
const TEXT_WIDTH: usize = 72;

/// `help`.
pub static HELP: CommandSpec = CommandSpec {
    name: "help",
    aliases: &[],
    args: &[],
    optargs: &[],
    arity: Arity::Free,
    free_synopsis: "[-l|--list|cmd]",
    ret: RetType::BufferOut,
    shortdesc: "display a list of commands or help on a command",
    longdesc: "Without arguments, hints on what to do next. With -l or --list, the list of all \
               commands with a one-line description each. With a command name, that \
               command's manual page.",
    examples: &["help", "help -l", "help echo"],
    handler: help,
};

fn help(ctx: &mut Ctx<'_>, args: &Args) -> Result<Value, CmdError> {
    let text = match args.words().as_slice() {
        [] => general_help(ctx.session.launched),
        [flag] if *flag == b"-l" || *flag == b"--list" => command_list(),
        [cmd] => command_help(&String::from_utf8_lossy(cmd))?,
        _ => {
            return Err(CmdError::Fish(
                "use 'help', 'help <cmd>' or 'help -l|--list' to list all commands\n".into(),
            ));
        }
    };
    Ok(Value::Buffer(text.into_bytes()))
}

/// What `help` says with no argument, depending on the session's state.
pub fn general_help(launched: bool) -> String {
    let mut s = String::new();
    if launched {
        s.push_str(
            "Find out what filesystems are available using 'list-filesystems' and then\n\
             mount them to examine or modify the contents using 'mount-ro' or\n\
             'mount'.\n",
        );
    } else {
        s.push_str(
            "Add disk images to examine using the -a or -d options, or the 'add' command.\n\
             Or create a new disk image using -N, or the 'alloc' or 'sparse' commands.\n\
             Once you have done this, use the 'run' command.\n",
        );
    }
    s.push_str(
        "\nFor more information about a command, use 'help cmd'.\n\n\
         To read the manual, run 'rfish --help'.\n\n",
    );
    s
}

/// `help -l` / `rfish -h`: every command and alias, `%-20s %s`, with `help` and `quit` first.
pub fn command_list() -> String {
    let mut rows: Vec<(&str, String)> = Vec::new();
    let first = ["help", "quit"];
    for spec in registry() {
        if first.contains(&spec.name) {
            continue;
        }
        rows.push((spec.name, spec.shortdesc.to_string()));
        for alias in spec.aliases {
            rows.push((alias, format!("alias for '{}'", spec.name)));
        }
    }
    rows.sort_by(|a, b| a.0.cmp(b.0));
    let mut s = String::from("    Command              Description\n");
    for name in first {
        if let Some(spec) = lookup(name) {
            let _ = writeln!(s, "{:<20} {}", spec.name, spec.shortdesc);
        }
    }
    for (name, desc) in rows {
        let _ = writeln!(s, "{name:<20} {desc}");
    }
    s.push_str("    Use -h <cmd> / help <cmd> to show detailed help for a command.\n");
    s
}

/// The README's command table (generated; a test keeps README.md in sync).
pub fn markdown_table() -> String {
    let mut s = String::from("| command | aliases | description |\n|---|---|---|\n");
    for spec in registry() {
        let _ = writeln!(
            s,
            "| `{}` | {} | {} |",
            spec.synopsis().replace('|', "\\|"),
            spec.aliases
                .iter()
                .map(|a| format!("`{a}`"))
                .collect::<Vec<_>>()
                .join(", "),
            spec.shortdesc
        );
    }
    s
}

/// Fill `text` into lines of at most 76 columns, each indented by 4, as pod2text sets
/// guestfish's manual pages.
fn wrap_indented(text: &str) -> String {
    let mut out = String::new();
    let mut line = String::from("    ");
    for word in text.split(' ') {
        if line.len() > 4 && line.len() + 1 + word.len() > 76 {
            out.push_str(&line);
            out.push('\n');
            line = String::from("    ");
        }
        if line.len() > 4 {
            line.push(' ');
        }
        line.push_str(word);
    }
    out.push_str(&line);
    out.push('\n');
    out
}

/// `help CMD`: the command's manual page, or guestfish's error for an unknown name.
pub fn command_help(name: &str) -> Result<String, CmdError> {
    let spec = lookup(name).ok_or_else(|| {
        CmdError::Fish(format!(
            "{name}: command not known: use -h to list all commands\n"
        ))
    })?;
    let mut s = format!(
        "NAME\n{}\n",
        wrap_indented(&format!("{} - {}", spec.name, spec.shortdesc))
    );
    let mut description = String::new();
    if spec.arity == Arity::Declared {
        let _ = write!(s, "SYNOPSIS\n     {}\n\n", spec.synopsis());
    } else {
        let _ = write!(description, "     {}\n\n", spec.synopsis());
    }
    s.push_str("DESCRIPTION\n");
    s.push_str(&description);
    for paragraph in spec.longdesc.split("\n\n") {
        s.push_str(&wrap(paragraph, TEXT_WIDTH, "    "));
        s.push('\n');
    }
    for alias in spec.aliases {
        let _ = write!(
            s,
            "    You can use '{alias}' as an alias for this command.\n\n"
        );
    }
    Ok(s)
}

/// Greedy word wrap of one paragraph, each line indented.
fn wrap(paragraph: &str, width: usize, indent: &str) -> String {
    let mut out = String::new();
    let mut line = String::new();
    for word in paragraph.split_whitespace() {
        if !line.is_empty() && line.len() + 1 + word.len() > width {
            let _ = writeln!(out, "{indent}{line}");
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        let _ = writeln!(out, "{indent}{line}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_starts_with_help_and_quit_then_sorts() {
        let list = command_list();
        let names: Vec<&str> = list
            .lines()
            .skip(1)
            .filter(|l| !l.starts_with(' '))
            .map(|l| l.split_whitespace().next().unwrap_or(""))
            .collect();
        assert_eq!(&names[..2], &["help", "quit"]);
        let mut rest = names[2..].to_vec();
        rest.sort_unstable();
        assert_eq!(rest, names[2..].to_vec());
        assert!(list.contains("run                  alias for 'launch'\n"));
        assert!(
            !list.contains("\nexit "),
            "quit's aliases are not listed, as in guestfish"
        );
    }

    #[test]
    fn command_help_has_name_synopsis_and_aliases() {
        let page = command_help("RUN").expect("known");
        assert!(
            page.starts_with("NAME\n    launch - launch the backend\n\nSYNOPSIS\n     launch\n\n")
        );
        assert!(page.ends_with("    You can use 'run' as an alias for this command.\n\n"));
        let page = command_help("echo").expect("known");
        assert!(page.starts_with(
            "NAME\n    echo - display a line of text\n\nDESCRIPTION\n     echo [params ...]\n\n"
        ));
    }

    #[test]
    fn unknown_command_help_is_guestfish_error() {
        assert_eq!(
            command_help("nosuch"),
            Err(CmdError::Fish(
                "nosuch: command not known: use -h to list all commands\n".into()
            ))
        );
    }

    #[test]
    fn wrapped_lines_fit() {
        let text = wrap(&"word ".repeat(50), 20, "    ");
        assert!(text.lines().all(|l| l.len() <= 24));
    }
}
