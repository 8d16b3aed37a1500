//! ext4's checksums: crc32c as the kernel and e2fsprogs compute it (seeded, without the
//! final inversion), and the crc16 of uninit_bg/gdt_csum group descriptors.

/// The kernel's `ext4_chksum(seed, data)`: crc32c with the given starting value and no
/// final xor (the crc32c crate's standard CRC inverts both ends).
pub fn crc32c_raw(seed: u32, data: &[u8]) -> u32 {
    !crc32c::crc32c_append(!seed, data)
}

const CRC16: crc::Crc<u16> = crc::Crc::<u16>::new(&crc::CRC_16_MODBUS);

/// e2fsprogs' `ext2fs_crc16(~0, ...)` over several pieces.
pub fn crc16(pieces: &[&[u8]]) -> u16 {
    let mut d = CRC16.digest();
    for p in pieces {
        d.update(p);
    }
    d.finalize()
}

/// Store an inode record's metadata_csum crc32c: seeded with the inode number and
/// generation, computed with both checksum fields zeroed; the lower half at 0x7c, the
/// upper half at 0x82 when the record's extra fields reach it.
pub fn seal_inode(raw: &mut [u8], seed: u32, ino: u32) {
    let extra = if raw.len() > 128 {
        usize::from(u16::from_le_bytes([raw[0x80], raw[0x81]]))
    } else {
        0
    };
    let hi = 128 + extra >= 0x84;
    raw[0x7c..0x7e].fill(0);
    if hi {
        raw[0x82..0x84].fill(0);
    }
    let generation = [raw[0x64], raw[0x65], raw[0x66], raw[0x67]];
    let s = crc32c_raw(seed, &ino.to_le_bytes());
    let s = crc32c_raw(s, &generation);
    let sum = crc32c_raw(s, raw);
    raw[0x7c..0x7e].copy_from_slice(&(sum as u16).to_le_bytes());
    if hi {
        raw[0x82..0x84].copy_from_slice(&((sum >> 16) as u16).to_le_bytes());
    }
}
