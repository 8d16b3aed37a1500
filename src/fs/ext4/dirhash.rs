//! The directory-index name hashes (Documentation/filesystems/ext4/directory.rst, "Hash
//! Tree Directories"): legacy, half-MD4 and TEA, each in a signed-char and an unsigned-char
//! flavour (the superblock's s_flags says which the filesystem was made with). Checked
//! against `debugfs -R "dx_hash ..."` in tests/ext4_read.rs.

/// A hash algorithm as `dx_root_info.hash_version` numbers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashVersion {
    /// 0 / 3.
    Legacy {
        /// Bytes are read as unsigned chars.
        unsigned: bool,
    },
    /// 1 / 4.
    HalfMd4 {
        /// Bytes are read as unsigned chars.
        unsigned: bool,
    },
    /// 2 / 5.
    Tea {
        /// Bytes are read as unsigned chars.
        unsigned: bool,
    },
}

impl HashVersion {
    /// The version in a dx root, adjusted by the superblock's unsigned flag as the kernel
    /// does; `None` for versions rfish does not know (siphash is for encrypted casefolded
    /// directories).
    pub fn from_disk(v: u8, sb_unsigned: bool) -> Option<HashVersion> {
        let v = if v <= 2 && sb_unsigned { v + 3 } else { v };
        Some(match v {
            0 => HashVersion::Legacy { unsigned: false },
            1 => HashVersion::HalfMd4 { unsigned: false },
            2 => HashVersion::Tea { unsigned: false },
            3 => HashVersion::Legacy { unsigned: true },
            4 => HashVersion::HalfMd4 { unsigned: true },
            5 => HashVersion::Tea { unsigned: true },
            _ => return None,
        })
    }
}

fn char_value(b: u8, unsigned: bool) -> u32 {
    if unsigned {
        u32::from(b)
    } else {
        i32::from(b as i8) as u32
    }
}

fn legacy(name: &[u8], unsigned: bool) -> u32 {
    let (mut h0, mut h1) = (0x12a3_fe2d_u32, 0x37ab_e8f9_u32);
    for &c in name {
        let mut h = h1.wrapping_add(h0 ^ char_value(c, unsigned).wrapping_mul(7_152_373));
        if h & 0x8000_0000 != 0 {
            h = h.wrapping_sub(0x7fff_ffff);
        }
        h1 = h0;
        h0 = h;
    }
    h0 << 1
}

/// Pack up to `num * 4` bytes of `msg` into words, padded with a length-derived pattern.
fn str_to_words(msg: &[u8], num: usize, unsigned: bool) -> [u32; 8] {
    let len = msg.len() as u32;
    let mut pad = len | (len << 8);
    pad |= pad << 16;
    let mut out = [pad; 8];
    let mut val = pad;
    let mut word = 0;
    for (i, &c) in msg.iter().take(num * 4).enumerate() {
        val = char_value(c, unsigned).wrapping_add(val << 8);
        if i % 4 == 3 {
            out[word] = val;
            word += 1;
            val = pad;
        }
    }
    if word < num {
        out[word] = val;
    }
    out
}

fn half_md4(buf: &mut [u32; 4], inp: &[u32; 8]) {
    type Mix = fn(u32, u32, u32) -> u32;
    type Round = (Mix, u32, [(usize, u32); 8]);
    let f: Mix = |x, y, z| z ^ (x & (y ^ z));
    let g: Mix = |x, y, z| (x & y).wrapping_add((x ^ y) & z);
    let h: Mix = |x, y, z| x ^ y ^ z;
    // (mixing function, constant, [(input word, rotation)]) for the three rounds.
    let rounds: [Round; 3] = [
        (
            f,
            0,
            [
                (0, 3),
                (1, 7),
                (2, 11),
                (3, 19),
                (4, 3),
                (5, 7),
                (6, 11),
                (7, 19),
            ],
        ),
        (
            g,
            0o13240474631,
            [
                (1, 3),
                (3, 5),
                (5, 9),
                (7, 13),
                (0, 3),
                (2, 5),
                (4, 9),
                (6, 13),
            ],
        ),
        (
            h,
            0o15666365641,
            [
                (3, 3),
                (7, 9),
                (2, 11),
                (6, 15),
                (1, 3),
                (5, 9),
                (0, 11),
                (4, 15),
            ],
        ),
    ];
    // The state words a, b, c, d; step n updates word (4 - n % 4) % 4 from the other three
    // in rotated order, as MD4 does.
    let mut w = *buf;
    for (mix, k, steps) in rounds {
        for (n, (idx, s)) in steps.into_iter().enumerate() {
            let t = (4 - n % 4) % 4;
            let (x, y, z) = (w[(t + 1) % 4], w[(t + 2) % 4], w[(t + 3) % 4]);
            w[t] = w[t]
                .wrapping_add(mix(x, y, z))
                .wrapping_add(inp[idx].wrapping_add(k))
                .rotate_left(s);
        }
    }
    for (b, x) in buf.iter_mut().zip(w) {
        *b = b.wrapping_add(x);
    }
}

fn tea(buf: &mut [u32; 4], inp: &[u32; 8]) {
    const DELTA: u32 = 0x9e37_79b9;
    let (mut b0, mut b1) = (buf[0], buf[1]);
    let [a, b, c, d] = [inp[0], inp[1], inp[2], inp[3]];
    let mut sum = 0u32;
    for _ in 0..16 {
        sum = sum.wrapping_add(DELTA);
        b0 = b0.wrapping_add(
            ((b1 << 4).wrapping_add(a)) ^ (b1.wrapping_add(sum)) ^ ((b1 >> 5).wrapping_add(b)),
        );
        b1 = b1.wrapping_add(
            ((b0 << 4).wrapping_add(c)) ^ (b0.wrapping_add(sum)) ^ ((b0 >> 5).wrapping_add(d)),
        );
    }
    buf[0] = buf[0].wrapping_add(b0);
    buf[1] = buf[1].wrapping_add(b1);
}

/// The major hash of `name` (bit 0 clear), with the filesystem's `seed` (all zero: the
/// default seed).
pub fn dx_hash(name: &[u8], version: HashVersion, seed: [u32; 4]) -> u32 {
    dx_hash_pair(name, version, seed).0
}

/// The (major, minor) hash pair: the order in which Linux returns the entries of an
/// indexed directory from readdir.
pub fn dx_hash_pair(name: &[u8], version: HashVersion, seed: [u32; 4]) -> (u32, u32) {
    let mut buf = if seed.iter().any(|&w| w != 0) {
        seed
    } else {
        [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476]
    };
    let (hash, minor) = match version {
        HashVersion::Legacy { unsigned } => (legacy(name, unsigned), 0),
        HashVersion::HalfMd4 { unsigned } => {
            let mut rest = name;
            loop {
                half_md4(&mut buf, &str_to_words(rest, 8, unsigned));
                if rest.len() <= 32 {
                    break;
                }
                rest = &rest[32..];
            }
            (buf[1], buf[2])
        }
        HashVersion::Tea { unsigned } => {
            let mut rest = name;
            loop {
                tea(&mut buf, &str_to_words(rest, 4, unsigned));
                if rest.len() <= 16 {
                    break;
                }
                rest = &rest[16..];
            }
            (buf[0], buf[1])
        }
    };
    let hash = hash & !1;
    // The end-of-directory cookie is reserved.
    let hash = if hash == 0x7fff_ffff << 1 {
        (0x7fff_ffff - 1) << 1
    } else {
        hash
    };
    (hash, minor)
}
