//! LVM2's text metadata format (what `vgcfgbackup` writes): `name = value` settings and
//! `name { ... }` sections; values are numbers, "strings" or [lists]; `#` comments.

use crate::block::{BlockError, Result};

/// A parsed value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// An integer.
    Num(i64),
    /// A string.
    Str(String),
    /// A list of values.
    List(Vec<Value>),
    /// A section of named values, in file order.
    Section(Vec<(String, Value)>),
}

impl Value {
    /// Member `name` of a section.
    pub fn get(&self, name: &str) -> Option<&Value> {
        match self {
            Value::Section(items) => items.iter().find(|(k, _)| k == name).map(|(_, v)| v),
            _ => None,
        }
    }

    /// Member `name` as a number.
    pub fn num(&self, name: &str) -> Option<i64> {
        match self.get(name)? {
            Value::Num(n) => Some(*n),
            _ => None,
        }
    }

    /// Member `name` as a string.
    pub fn str(&self, name: &str) -> Option<&str> {
        match self.get(name)? {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The (name, section) members of a section.
    pub fn sections(&self) -> Vec<(&str, &Value)> {
        match self {
            Value::Section(items) => items
                .iter()
                .filter(|(_, v)| matches!(v, Value::Section(_)))
                .map(|(k, v)| (k.as_str(), v))
                .collect(),
            _ => Vec::new(),
        }
    }
}

fn bad(detail: String) -> BlockError {
    BlockError::corrupt("LVM metadata", detail)
}

/// Nesting deeper than this is refused (real metadata nests 4 levels).
const MAX_DEPTH: usize = 16;

struct Parser<'a> {
    s: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn skip(&mut self) {
        while self.at < self.s.len() {
            match self.s[self.at] {
                b' ' | b'\t' | b'\n' | b'\r' => self.at += 1,
                b'#' => {
                    while self.at < self.s.len() && self.s[self.at] != b'\n' {
                        self.at += 1;
                    }
                }
                _ => break,
            }
        }
    }

    fn ident(&mut self) -> Option<String> {
        let start = self.at;
        while self.at < self.s.len()
            && (self.s[self.at].is_ascii_alphanumeric() || b"_.-+".contains(&self.s[self.at]))
        {
            self.at += 1;
        }
        (self.at > start).then(|| String::from_utf8_lossy(&self.s[start..self.at]).into_owned())
    }

    fn value(&mut self, depth: usize) -> Result<Value> {
        self.skip();
        match self.s.get(self.at) {
            Some(b'"') => {
                self.at += 1;
                let mut out = Vec::new();
                while let Some(&c) = self.s.get(self.at) {
                    self.at += 1;
                    match c {
                        b'"' => return Ok(Value::Str(String::from_utf8_lossy(&out).into_owned())),
                        b'\\' => {
                            if let Some(&n) = self.s.get(self.at) {
                                out.push(n);
                                self.at += 1;
                            }
                        }
                        _ => out.push(c),
                    }
                }
                Err(bad("unterminated string".into()))
            }
            Some(b'[') => {
                if depth > MAX_DEPTH {
                    return Err(bad("nested too deeply".into()));
                }
                self.at += 1;
                let mut items = Vec::new();
                loop {
                    self.skip();
                    match self.s.get(self.at) {
                        Some(b']') => {
                            self.at += 1;
                            return Ok(Value::List(items));
                        }
                        Some(b',') => self.at += 1,
                        None => return Err(bad("unterminated list".into())),
                        _ => items.push(self.value(depth + 1)?),
                    }
                }
            }
            Some(c) if c.is_ascii_digit() || *c == b'-' => {
                let start = self.at;
                self.at += 1;
                while self.s.get(self.at).is_some_and(|c| c.is_ascii_digit()) {
                    self.at += 1;
                }
                let text = String::from_utf8_lossy(&self.s[start..self.at]).into_owned();
                // Floats (rare: "version = 1.0"?) keep their integer part.
                while self
                    .s
                    .get(self.at)
                    .is_some_and(|c| c.is_ascii_digit() || *c == b'.')
                {
                    self.at += 1;
                }
                text.parse()
                    .map(Value::Num)
                    .map_err(|_| bad(format!("bad number {text}")))
            }
            _ => Err(bad(format!("unexpected byte at {}", self.at))),
        }
    }

    /// Members until `}` (or the end, at the top level).
    fn members(&mut self, depth: usize) -> Result<Vec<(String, Value)>> {
        if depth > MAX_DEPTH {
            return Err(bad("nested too deeply".into()));
        }
        let mut items = Vec::new();
        loop {
            self.skip();
            match self.s.get(self.at) {
                None if depth == 0 => return Ok(items),
                None => return Err(bad("unterminated section".into())),
                Some(b'}') if depth > 0 => {
                    self.at += 1;
                    return Ok(items);
                }
                Some(0) => return Ok(items), // the metadata area pads with NULs
                _ => {}
            }
            let name = self
                .ident()
                .ok_or_else(|| bad(format!("expected a name at byte {}", self.at)))?;
            self.skip();
            match self.s.get(self.at) {
                Some(b'=') => {
                    self.at += 1;
                    let v = self.value(depth + 1)?;
                    items.push((name, v));
                }
                Some(b'{') => {
                    self.at += 1;
                    let inner = self.members(depth + 1)?;
                    items.push((name, Value::Section(inner)));
                }
                _ => return Err(bad(format!("expected = or {{ after {name}"))),
            }
        }
    }
}

/// Parse metadata text.
pub fn parse(text: &[u8]) -> Result<Value> {
    let mut p = Parser { s: text, at: 0 };
    Ok(Value::Section(p.members(0)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_vgcfgbackup_text() {
        let v = parse(b"vg {\n id = \"x-y\"\n extent_size = 8192 # comment\n status = [\"READ\", \"WRITE\"]\n pvs { pv0 { pe_start = 2048 } }\n}\ncontents = \"Text\"\n").unwrap();
        let vg = v.get("vg").unwrap();
        assert_eq!(vg.str("id"), Some("x-y"));
        assert_eq!(vg.num("extent_size"), Some(8192));
        assert_eq!(
            vg.get("status"),
            Some(&Value::List(vec![
                Value::Str("READ".into()),
                Value::Str("WRITE".into())
            ]))
        );
        assert_eq!(
            vg.get("pvs").unwrap().sections()[0].1.num("pe_start"),
            Some(2048)
        );
        assert!(parse(b"a { b = ").is_err());
        assert!(parse(&[b'['; 100]).is_err());
        let deep = "a {".repeat(40);
        assert!(parse(deep.as_bytes()).is_err());
    }
}
