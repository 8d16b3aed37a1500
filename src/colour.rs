//! Colour on terminals only: errors in red and a highlighted prompt when standard error is a
//! terminal and `NO_COLOR` is unset (<https://no-color.org>); plain text otherwise.

/// Decide once, at start-up, whether to colour output, and tell the `colored` crate.
pub fn decide(stderr_is_terminal: bool) -> bool {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let on = stderr_is_terminal && !no_color;
    colored::control::set_override(on);
    on
}
