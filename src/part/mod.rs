//! Devices between the block layer and the filesystems: guestfish's device names, the
//! partition tables of each drive (MBR via mbrman, GPT via gpt), and partitions as
//! windows onto their drive.
//!
//! Names: drives are `/dev/sda`, `/dev/sdb`, ... in the order added (then `/dev/sdaa`, as
//! Linux continues); partitions append their number. The guest-side spellings `/dev/vdX`,
//! `/dev/hdX` and `/dev/xvdX` name the same devices.

pub mod gpt;
pub mod io;
pub mod mbr;
pub mod probe;
pub mod table;
pub mod window;
pub mod write;

pub use table::{PartEntry, PartKind, PartTable, TableKind, read_table};
pub use window::Window;

/// A parsed device name: the drive index and, for a partition, its number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceName {
    /// 0 for sda.
    pub drive: usize,
    /// `Some(n)` for `/dev/sdXn`.
    pub partition: Option<u32>,
}

/// guestfish's name for the drive at `index`: sda..sdz, sdaa, sdab, ...
pub fn drive_name(index: usize) -> String {
    let mut letters = Vec::new();
    let mut n = index + 1;
    while n > 0 {
        n -= 1;
        letters.push(b'a' + (n % 26) as u8);
        n /= 26;
    }
    letters.reverse();
    format!("/dev/sd{}", String::from_utf8_lossy(&letters))
}

/// Parse `/dev/sda`, `/dev/sdb3`, `/dev/vdc1`, `/dev/hda`, `/dev/xvda2`, ...
pub fn parse_device_name(name: &str) -> Option<DeviceName> {
    let rest = ["/dev/sd", "/dev/vd", "/dev/hd", "/dev/xvd"]
        .iter()
        .find_map(|p| name.strip_prefix(p))?;
    let split = rest
        .find(|c: char| !c.is_ascii_lowercase())
        .unwrap_or(rest.len());
    let (letters, digits) = rest.split_at(split);
    if letters.is_empty() || letters.len() > 3 {
        return None;
    }
    let mut n = 0usize;
    for b in letters.bytes() {
        n = n * 26 + usize::from(b - b'a') + 1;
    }
    let partition = if digits.is_empty() {
        None
    } else {
        if !digits.bytes().all(|b| b.is_ascii_digit()) || digits.starts_with('0') {
            return None;
        }
        Some(digits.parse().ok()?)
    };
    Some(DeviceName {
        drive: n - 1,
        partition,
    })
}

/// The canonical (`/dev/sdXN`) spelling of a device name.
pub fn canonical_name(d: DeviceName) -> String {
    match d.partition {
        Some(p) => format!("{}{p}", drive_name(d.drive)),
        None => drive_name(d.drive),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_guest_spellings_map_to_sd() {
        assert_eq!(drive_name(0), "/dev/sda");
        assert_eq!(drive_name(25), "/dev/sdz");
        assert_eq!(drive_name(26), "/dev/sdaa");
        assert_eq!(drive_name(27), "/dev/sdab");
        for i in [0, 1, 25, 26, 27, 700, 702, 5000] {
            let d = parse_device_name(&drive_name(i)).unwrap();
            assert_eq!((d.drive, d.partition), (i, None));
        }
        let d = |s: &str| parse_device_name(s).map(|d| (d.drive, d.partition));
        assert_eq!(d("/dev/vdb2"), Some((1, Some(2))));
        assert_eq!(d("/dev/xvdc"), Some((2, None)));
        assert_eq!(d("/dev/hda15"), Some((0, Some(15))));
        assert_eq!(d("/dev/sdaa1"), Some((26, Some(1))));
        assert_eq!(d("/dev/sda0"), None);
        assert_eq!(d("/dev/sda01"), None);
        assert_eq!(d("/dev/sd"), None);
        assert_eq!(d("sda"), None);
        assert_eq!(d("/dev/sda1x"), None);
        assert_eq!(
            canonical_name(parse_device_name("/dev/vda2").unwrap()),
            "/dev/sda2"
        );
    }
}
