//! Every example in the command registry runs successfully through the real binary, and the
//! README's command list is the one the registry generates.

mod common;

use common::rfish_script;
use rfish::commands::registry;

#[test]
fn every_registry_example_runs() {
    let mut count = 0;
    for spec in registry() {
        assert!(!spec.examples.is_empty(), "{} has no example", spec.name);
        for example in spec.examples {
            let r = rfish_script(&format!("{example}\n"));
            assert_eq!(r.status, 0, "example {example:?} failed: {}", r.stderr);
            count += 1;
        }
    }
    assert!(count >= registry().len());
}

#[test]
fn readme_lists_every_command() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let begin = readme
        .find("<!-- commands:begin -->")
        .expect("commands:begin marker");
    let end = readme
        .find("<!-- commands:end -->")
        .expect("commands:end marker");
    let listed = &readme[begin..end];
    let generated = rfish::commands::help::markdown_table();
    assert!(
        listed.contains(&generated),
        "README.md's command table is stale; regenerate it with `rfish --list-markdown`:\n{generated}"
    );
}
