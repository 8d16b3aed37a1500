//! The `rfish` binary.

fn main() {
    std::process::exit(rfish::cli::main());
}
