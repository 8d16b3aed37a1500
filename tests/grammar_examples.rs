//! Every example line in grammar/rfish.ebnf parses as the grammar file says it does.

use rfish::parse::{LineKind, parse_line};

fn examples() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/grammar/rfish.ebnf"))
        .expect("grammar file");
    let block = text.rsplit("(*\n").next().expect("examples block");
    let block = block.split("\n*)").next().expect("examples block end");
    block
        .lines()
        .map(|l| {
            let (want, line) = l.split_once('\t').expect("expectation TAB line");
            (want.to_string(), line.to_string())
        })
        .collect()
}

#[test]
fn grammar_examples_parse_as_documented() {
    let examples = examples();
    assert!(examples.len() >= 20, "the grammar file lists its examples");
    for (want, line) in examples {
        let parsed = parse_line(line.as_bytes());
        let (kind, rest) = want.split_once(' ').unwrap_or((want.as_str(), ""));
        match (kind, parsed) {
            ("nothing", Ok(l)) => assert_eq!(l.kind, LineKind::Nothing, "{line:?}"),
            ("host", Ok(l)) => {
                assert_eq!(l.kind, LineKind::Host(rest.as_bytes().to_vec()), "{line:?}")
            }
            ("inline", Ok(l)) => {
                assert_eq!(
                    l.kind,
                    LineKind::Inline(rest.as_bytes().to_vec()),
                    "{line:?}"
                )
            }
            ("ok", Ok(l)) => {
                let LineKind::Call(call) = l.kind else {
                    panic!("{line:?} is not a call")
                };
                let mut got: Vec<String> = vec![call.name.clone()];
                got.extend(
                    call.args
                        .iter()
                        .map(|w| String::from_utf8_lossy(&w.text).into_owned()),
                );
                if let Some(pipe) = &call.pipe {
                    got.push(format!("PIPE{}", String::from_utf8_lossy(pipe)));
                }
                let want: Vec<String> = rest
                    .split(" | ")
                    .map(|w| w.replace("<TAB>", "\t"))
                    .collect();
                assert_eq!(got, want, "{line:?}");
            }
            ("error", Err(e)) => assert_eq!(e.to_string(), rest, "{line:?}"),
            (kind, got) => panic!("{line:?}: expected {kind} {rest}, got {got:?}"),
        }
    }
}
