//! The one printer: a command's result is printed by its declared return type, byte for byte
//! as guestfish prints it (generator/fish.ml), never by ad-hoc printing in handlers.

use std::io::{self, Write};

use super::RetType;

/// A command's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// Nothing to print (RErr, or a fish command that printed for itself).
    Unit,
    /// RInt / RInt64.
    Int(i64),
    /// RBool.
    Bool(bool),
    /// RString.
    String(Vec<u8>),
    /// RStringList.
    StringList(Vec<Vec<u8>>),
    /// RHashtable, in the order the command produced it.
    Hashtable(Vec<(String, String)>),
    /// RStruct.
    Struct(Vec<(&'static str, Field)>),
    /// RStructList.
    StructList(Vec<Vec<(&'static str, Field)>>),
    /// RBufferOut.
    Buffer(Vec<u8>),
}

/// One field of a struct.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    /// Integer fields print in decimal.
    Int(i64),
    /// String fields print as they are.
    Str(String),
    /// Buffer fields print printable bytes as they are and others as `\xNN`.
    Buffer(Vec<u8>),
}

/// Print `value` as guestfish prints a result of type `ret`.
pub fn print(out: &mut dyn Write, ret: RetType, value: &Value) -> io::Result<()> {
    match (ret, value) {
        (_, Value::Unit) | (RetType::Err, _) => Ok(()),
        // guestfish prints the 0x prefix only before a non-zero value.
        (RetType::IntHex, Value::Int(0)) => writeln!(out, "0"),
        (RetType::IntHex, Value::Int(n)) => writeln!(out, "0x{:x}", *n as u32),
        (_, Value::Int(n)) => writeln!(out, "{n}"),
        (_, Value::Bool(b)) => writeln!(out, "{}", if *b { "true" } else { "false" }),
        // RString and RStringList are C strings: guestfish prints up to the first NUL.
        (RetType::String, Value::String(s)) => {
            out.write_all(c_string(s))?;
            out.write_all(b"\n")
        }
        (_, Value::String(s)) => {
            out.write_all(s)?;
            out.write_all(b"\n")
        }
        (_, Value::StringList(items)) => {
            for item in items {
                out.write_all(c_string(item))?;
                out.write_all(b"\n")?;
            }
            Ok(())
        }
        (_, Value::Hashtable(pairs)) => {
            for (k, v) in pairs {
                writeln!(out, "{k}: {v}")?;
            }
            Ok(())
        }
        (_, Value::Struct(fields)) => print_fields(out, "", fields),
        (_, Value::StructList(list)) => {
            for (i, fields) in list.iter().enumerate() {
                writeln!(out, "[{i}] = {{")?;
                print_fields(out, "  ", fields)?;
                writeln!(out, "}}")?;
            }
            Ok(())
        }
        (_, Value::Buffer(bytes)) => out.write_all(bytes),
    }
}

fn print_fields(out: &mut dyn Write, indent: &str, fields: &[(&str, Field)]) -> io::Result<()> {
    for (name, field) in fields {
        write!(out, "{indent}{name}: ")?;
        match field {
            Field::Int(n) => write!(out, "{n}")?,
            Field::Str(s) => write!(out, "{s}")?,
            Field::Buffer(bytes) => {
                for &b in bytes {
                    if b.is_ascii_graphic() || b == b' ' {
                        out.write_all(&[b])?;
                    } else {
                        // guestfish prints a (signed) char with %02x: bytes from 0x80 on
                        // come out sign-extended.
                        write!(out, "\\x{:02x}", i32::from(b as i8) as u32)?;
                    }
                }
            }
        }
        writeln!(out)?;
    }
    Ok(())
}

/// The bytes before the first NUL.
fn c_string(s: &[u8]) -> &[u8] {
    s.iter().position(|&b| b == 0).map_or(s, |n| &s[..n])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn printed(ret: RetType, value: Value) -> String {
        let mut out = Vec::new();
        print(&mut out, ret, &value).expect("write to a Vec");
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn each_return_type_prints_like_guestfish() {
        assert_eq!(printed(RetType::Err, Value::Unit), "");
        assert_eq!(printed(RetType::Int, Value::Int(-3)), "-3\n");
        assert_eq!(printed(RetType::Bool, Value::Bool(true)), "true\n");
        assert_eq!(
            printed(RetType::String, Value::String(b"a\n".to_vec())),
            "a\n\n"
        );
        assert_eq!(
            printed(
                RetType::StringList,
                Value::StringList(vec![b"a".to_vec(), b"b".to_vec()])
            ),
            "a\nb\n"
        );
        assert_eq!(
            printed(
                RetType::Hashtable,
                Value::Hashtable(vec![("/".into(), "/dev/sda1".into())])
            ),
            "/: /dev/sda1\n"
        );
        assert_eq!(
            printed(
                RetType::Struct,
                Value::Struct(vec![
                    ("major", Field::Int(1)),
                    ("extra", Field::Str(String::new()))
                ])
            ),
            "major: 1\nextra: \n"
        );
        assert_eq!(
            printed(
                RetType::StructList,
                Value::StructList(vec![
                    vec![("part_num", Field::Int(1))],
                    vec![("part_num", Field::Int(2))]
                ])
            ),
            "[0] = {\n  part_num: 1\n}\n[1] = {\n  part_num: 2\n}\n"
        );
        assert_eq!(
            printed(
                RetType::Struct,
                Value::Struct(vec![("attrval", Field::Buffer(b"a\x00\n\xe8".to_vec()))])
            ),
            "attrval: a\\x00\\x0a\\xffffffe8\n"
        );
        assert_eq!(
            printed(RetType::BufferOut, Value::Buffer(b"\x00raw".to_vec())),
            "\0raw"
        );
    }
}
