//! Arbitrary bytes as a command line: the parser returns a line or an error with an
//! offset inside the input, never panics.
//! Run: RUSTC_BOOTSTRAP=1 cargo fuzz run line_grammar

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = rfish::parse::line::parse_line(data) {
        assert!(e.offset <= data.len());
    }
});
