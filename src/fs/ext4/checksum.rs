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
