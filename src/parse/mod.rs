//! Text to structure: the guestfish line grammar ([`line`]), typed argument values
//! ([`value`]) and `~` expansion ([`tilde`]).

pub mod line;
pub mod tilde;
pub mod value;

pub use line::{Call, Line, LineKind, ParseError, ParseErrorKind, Quoting, Word, parse_line};
