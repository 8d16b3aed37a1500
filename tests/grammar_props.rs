//! Property tests of the line grammar: any bytes parse or fail cleanly, and words printed in
//! guestfish's quoting parse back to themselves.

use proptest::prelude::*;
use rfish::parse::{LineKind, parse_line};

/// Quote a word for the grammar: double quotes with an escape for every byte that needs one.
fn quote(word: &[u8]) -> Vec<u8> {
    let mut out = vec![b'"'];
    for &b in word {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0x20..=0x7e => out.push(b),
            _ => out.extend_from_slice(format!("\\x{b:02x}").as_bytes()),
        }
    }
    out.push(b'"');
    out
}

proptest! {
    #[test]
    fn any_line_parses_or_fails_without_panicking(line in prop::collection::vec(any::<u8>(), 0..300)) {
        match parse_line(&line) {
            Ok(_) => {}
            Err(e) => prop_assert!(e.offset <= line.len()),
        }
    }

    #[test]
    fn quoted_words_round_trip(words in prop::collection::vec(prop::collection::vec(1u8..=255, 0..16), 0..20)) {
        let mut line = b"echo".to_vec();
        for w in &words {
            line.push(b' ');
            line.extend(quote(w));
        }
        let parsed = parse_line(&line).expect("quoted words parse");
        let LineKind::Call(call) = parsed.kind else { panic!("not a call") };
        let got: Vec<Vec<u8>> = call.args.into_iter().map(|w| w.text).collect();
        prop_assert_eq!(got, words);
    }

    #[test]
    fn bare_words_split_on_blanks(words in prop::collection::vec("[a-zA-Z0-9/._=:,+@%^-]{1,12}", 1..20)) {
        let line = format!("cmd {}", words.join(" \t "));
        let LineKind::Call(call) = parse_line(line.as_bytes()).expect("parses").kind else {
            panic!("not a call")
        };
        let got: Vec<String> = call.args.iter().map(|w| String::from_utf8_lossy(&w.text).into_owned()).collect();
        prop_assert_eq!(got, words);
    }
}
