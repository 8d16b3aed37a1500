//! rfish against the real guestfish, on commands guestfish runs without launching a VM:
//! same output bytes, same error messages (with the program's name swapped), same exit
//! status. Skipped when guestfish is not installed, unless RFISH_REQUIRE_PEERS=1.

mod common;

use common::{Run, as_rfish, guestfish, rfish, rfish_script, run_with_stdin};
use rfish::commands::{Arity, RFISH_EXTRAS, registry};

fn guestfish_script(script: &str) -> Option<Run> {
    guestfish().map(|cmd| run_with_stdin(cmd, script))
}

fn guestfish_args(args: &[&str]) -> Option<Run> {
    guestfish().map(|mut cmd| {
        cmd.args(args);
        run_with_stdin(cmd, "")
    })
}

/// Run `script` through both shells and require identical stdout, stderr and status.
fn same_as_guestfish(script: &str) {
    let Some(want) = guestfish_script(script) else {
        return;
    };
    let got = rfish_script(script);
    assert_eq!(got.stdout, want.stdout, "stdout of {script:?}");
    assert_eq!(got.stderr, as_rfish(&want.stderr), "stderr of {script:?}");
    assert_eq!(got.status, want.status, "status of {script:?}");
}

#[test]
fn echo_output_matches() {
    same_as_guestfish(
        "echo hello   world\necho \"a\\tb\\n\" 'lit\\n' \"\\x41\\102\\?\"\necho # not a comment\n\
         echo a\"b c'd e|f\nECHO upper\necho\n  -echo ignored-prefix\necho \"\" ''\n",
    );
}

#[test]
fn pipes_match() {
    same_as_guestfish("echo hello | tr a-z A-Z\necho x|y\n");
}

#[test]
fn parse_errors_match() {
    for script in [
        "echo \"abc\necho after\n",
        "echo 'abc\n",
        "echo \"a\"b\n",
        "echo 'a'b\n",
        "echo \"a\\qb\"\n",
        "echo \"\\n\\n\\z\"\n",
        "echo \"\\x00\"\n",
        "echo \"\\400\"\n",
        "- echo \"abc\necho went on\n",
    ] {
        same_as_guestfish(script);
    }
}

#[test]
fn argument_count_limit_matches() {
    let words: Vec<String> = (1..=63).map(|i| i.to_string()).collect();
    same_as_guestfish(&format!("echo {}\n", words.join(" ")));
    same_as_guestfish(&format!("echo {} 64\n", words.join(" ")));
}

#[test]
fn fish_command_usage_errors_match() {
    for script in [
        "lcd\n",
        "lcd a b\n",
        "lcd /nonexistent-dir\n",
        "setenv X\n",
        "setenv A B C\n",
        "unsetenv\n",
        "time\n",
        "reopen x\n",
        "version x\n",
        "launch x\n",
        "help a b\n",
        "help nosuch\n",
        "-nosuch\necho after\n",
        "echo first\nnosuch\n",
        "quit extra words\necho never\n",
    ] {
        same_as_guestfish(script);
    }
}

#[test]
fn first_unknown_command_on_the_command_line_gets_the_long_hint() {
    let Some(want) = guestfish_args(&["nosuch"]) else {
        return;
    };
    let mut cmd = rfish();
    cmd.arg("nosuch");
    let got = run_with_stdin(cmd, "");
    assert_eq!(got.status, want.status);
    assert_eq!(got.stderr, as_rfish(&want.stderr));
}

#[test]
fn help_list_rows_match_for_every_shared_command() {
    let Some(want) = guestfish_args(&["-h"]) else {
        return;
    };
    let mut cmd = rfish();
    cmd.arg("-h");
    let got = run_with_stdin(cmd, "");
    assert_eq!(got.status, 0);
    let want_lines: Vec<&str> = want.stdout.lines().collect();
    let got_lines: Vec<&str> = got.stdout.lines().collect();
    assert_eq!(got_lines.first(), want_lines.first(), "header");
    assert_eq!(got_lines.last(), want_lines.last(), "footer");
    assert_eq!(
        &got_lines[1..3],
        &want_lines[1..3],
        "help and quit come first"
    );
    let mut shared = 0;
    for row in &got_lines[1..got_lines.len() - 1] {
        let name = row.split_whitespace().next().expect("name");
        // rfish extras (e.g. `not`, newer than guestfish 1.48) have no row to compare.
        if let Some(theirs) = want_lines
            .iter()
            .find(|l| l.split_whitespace().next() == Some(name))
        {
            assert_eq!(row, theirs, "help -l row for {name}");
            shared += 1;
        }
    }
    assert!(shared >= 10, "compared {shared} rows");
}

#[test]
fn help_pages_have_guestfish_name_and_synopsis() {
    for spec in registry() {
        if spec.name == "not" || spec.name == "help" || spec.name == "quit" {
            continue;
        }
        if RFISH_EXTRAS.contains(&spec.name) {
            continue;
        }
        let Some(want) = guestfish_args(&["-h", spec.name]) else {
            return;
        };
        let mut cmd = rfish();
        cmd.args(["-h", spec.name]);
        let mut got = run_with_stdin(cmd, "");
        for extra in RFISH_EXTRAS {
            if let Some((name, optarg)) = extra.split_once(' ')
                && name == spec.name
            {
                for shape in [":true|false]", ":..]", ":N]"] {
                    got.stdout = got.stdout.replace(&format!(" [{optarg}{shape}"), "");
                }
            }
        }
        assert_eq!(got.status, want.status, "{}", spec.name);
        let head = |text: &str| -> String {
            let keep = if spec.arity == Arity::Declared { 7 } else { 5 };
            // Indentation of the synopsis differs for a few fish commands in guestfish's pod.
            text.lines()
                .take(keep)
                .map(str::trim)
                .collect::<Vec<_>>()
                .join("\n")
        };
        assert_eq!(head(&got.stdout), head(&want.stdout), "help {}", spec.name);
    }
}

#[test]
fn version_has_guestfish_fields() {
    let Some(want) = guestfish_args(&["version"]) else {
        return;
    };
    let mut cmd = rfish();
    cmd.arg("version");
    let got = run_with_stdin(cmd, "");
    let keys = |text: &str| -> Vec<String> {
        text.lines()
            .map(|l| l.split(':').next().unwrap_or("").to_string())
            .collect()
    };
    assert_eq!(keys(&got.stdout), keys(&want.stdout));
    assert_eq!(got.status, want.status);
}

#[test]
fn time_output_has_guestfish_format() {
    let Some(want) = guestfish_script("time echo x\n") else {
        return;
    };
    let got = rfish_script("time echo x\n");
    let shape = |text: &str| -> String {
        text.chars()
            .map(|c| if c.is_ascii_digit() { '9' } else { c })
            .collect()
    };
    assert_eq!(shape(&got.stdout), shape(&want.stdout));
}
