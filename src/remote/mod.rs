//! Remote control: `rfish --listen` keeps a session in a background server, and
//! `rfish --remote CMD ARGS...` runs one command in it (guestfish's remote control, so
//! scripts written for `guestfish --listen`/`--remote` run unchanged).
//!
//! - [`path`]: where the server's socket lives (a private directory per user).
//! - [`wire`]: the messages on the socket.
//! - [`stdio`]: the client's standard input, output and error passed to the server, which
//!   runs each command with them as its own.
//! - [`server`]: starting the server (`--listen`) and serving commands.
//! - [`client`]: sending one command (`--remote`).

pub mod client;
pub mod path;
pub mod server;
pub mod stdio;
pub mod wire;
