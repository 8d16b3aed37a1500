//! rfish-agent: PID 1 of rfish's appliance (see `rfish::appliance::agent`).

fn main() {
    std::process::exit(rfish::appliance::agent::main());
}
