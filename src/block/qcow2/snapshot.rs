//! The internal snapshot table (QEMU docs/interop/qcow2.rst, "Snapshots"), read for
//! listing: rfish never writes an image that has snapshots.

use std::fs::File;

use super::header::Header;
use crate::block::raw::pread_zero_fill;
use crate::block::{BlockError, Result};

/// One internal snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// Unique ID string.
    pub id: String,
    /// Name (tag).
    pub name: String,
    /// Seconds since the Epoch when taken.
    pub date_sec: u32,
    /// Nanoseconds part of that time.
    pub date_nsec: u32,
    /// Guest run time in nanoseconds.
    pub vm_clock_nsec: u64,
    /// Bytes of saved VM state (0: disk only).
    pub vm_state_size: u64,
    /// Virtual disk size when taken, if recorded.
    pub disk_size: Option<u64>,
    /// Entries of its L1 table.
    pub l1_size: u32,
}

fn bad(detail: String) -> BlockError {
    BlockError::corrupt("snapshot table", detail)
}

/// Read every snapshot table entry.
pub fn read_snapshots(file: &File, h: &Header, file_len: u64) -> Result<Vec<Snapshot>> {
    let mut out = Vec::new();
    let mut at = h.snapshots_offset;
    for i in 0..h.nb_snapshots {
        if at + 40 > file_len {
            return Err(bad(format!(
                "entry {i} at {at} lies beyond the end of the file"
            )));
        }
        let mut fixed = [0u8; 40];
        pread_zero_fill(file, &mut fixed, at)
            .map_err(|e| BlockError::io("read snapshot table", e))?;
        let be16 = |o: usize| u64::from(u16::from_be_bytes([fixed[o], fixed[o + 1]]));
        let be32 =
            |o: usize| u32::from_be_bytes([fixed[o], fixed[o + 1], fixed[o + 2], fixed[o + 3]]);
        let be64 = |o: usize| (u64::from(be32(o)) << 32) | u64::from(be32(o + 4));
        let id_len = be16(12);
        let name_len = be16(14);
        let extra_len = u64::from(be32(36));
        if extra_len > 1024 {
            return Err(bad(format!("entry {i}: extra data of {extra_len} bytes")));
        }
        let var_len = extra_len + id_len + name_len;
        if at + 40 + var_len > file_len {
            return Err(bad(format!("entry {i} runs past the end of the file")));
        }
        let mut var = vec![0u8; var_len as usize];
        pread_zero_fill(file, &mut var, at + 40)
            .map_err(|e| BlockError::io("read snapshot table", e))?;
        let extra = &var[..extra_len as usize];
        let id = &var[extra_len as usize..(extra_len + id_len) as usize];
        let name = &var[(extra_len + id_len) as usize..];
        let extra64 = |o: usize| {
            (extra.len() >= o + 8).then(|| {
                let mut b = [0u8; 8];
                b.copy_from_slice(&extra[o..o + 8]);
                u64::from_be_bytes(b)
            })
        };
        out.push(Snapshot {
            id: String::from_utf8_lossy(id).into_owned(),
            name: String::from_utf8_lossy(name).into_owned(),
            date_sec: be32(16),
            date_nsec: be32(20),
            vm_clock_nsec: be64(24),
            vm_state_size: extra64(0).unwrap_or(u64::from(be32(32))),
            disk_size: extra64(8),
            l1_size: be32(8),
        });
        at = (at + 40 + var_len).div_ceil(8) * 8;
    }
    Ok(out)
}
