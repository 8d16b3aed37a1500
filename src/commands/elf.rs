//! What `file` (libmagic 5.4x) prints for an ELF binary: class, byte order, type (pie
//! executable when DT_FLAGS_1 has DF_1_PIE), machine, OS/ABI, linking, interpreter, the
//! GNU build-id and ABI-tag notes in file order, and whether a symbol table is left.
//! Every offset and count comes from the file and is bounds-checked.

/// A bounds-checked reader of ELF fields.
struct Elf<'a> {
    data: &'a [u8],
    wide: bool,
    le: bool,
}

impl Elf<'_> {
    fn u16(&self, at: usize) -> Option<u64> {
        let b = self.data.get(at..at + 2)?;
        Some(u64::from(if self.le {
            u16::from_le_bytes([b[0], b[1]])
        } else {
            u16::from_be_bytes([b[0], b[1]])
        }))
    }
    fn u32(&self, at: usize) -> Option<u64> {
        let b: [u8; 4] = self.data.get(at..at + 4)?.try_into().ok()?;
        Some(u64::from(if self.le {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        }))
    }
    fn u64(&self, at: usize) -> Option<u64> {
        let b: [u8; 8] = self.data.get(at..at + 8)?.try_into().ok()?;
        Some(if self.le {
            u64::from_le_bytes(b)
        } else {
            u64::from_be_bytes(b)
        })
    }
    /// An address-sized field.
    fn addr(&self, at: usize) -> Option<u64> {
        if self.wide {
            self.u64(at)
        } else {
            self.u32(at)
        }
    }
}

/// A program header: (type, offset, file size).
fn program_headers(e: &Elf<'_>) -> Vec<(u64, usize, usize)> {
    let (phoff, phentsize, phnum) = if e.wide {
        (e.u64(0x20), e.u16(0x36), e.u16(0x38))
    } else {
        (e.u32(0x1c), e.u16(0x2a), e.u16(0x2c))
    };
    let (Some(phoff), Some(size), Some(num)) = (phoff, phentsize, phnum) else {
        return Vec::new();
    };
    (0..num.min(256))
        .filter_map(|i| {
            let at = usize::try_from(phoff.checked_add(i * size)?).ok()?;
            let kind = e.u32(at)?;
            let (off, filesz) = if e.wide {
                (e.u64(at + 8)?, e.u64(at + 32)?)
            } else {
                (e.u32(at + 4)?, e.u32(at + 16)?)
            };
            Some((
                kind,
                usize::try_from(off).ok()?,
                usize::try_from(filesz).ok()?,
            ))
        })
        .collect()
}

/// The notes of a PT_NOTE segment that `file` reports, in order.
fn notes(e: &Elf<'_>, off: usize, len: usize, out: &mut Vec<String>) {
    let end = off.saturating_add(len).min(e.data.len());
    let mut at = off;
    while at + 12 <= end {
        let (Some(namesz), Some(descsz), Some(kind)) = (e.u32(at), e.u32(at + 4), e.u32(at + 8))
        else {
            return;
        };
        let name_at = at + 12;
        let desc_at = name_at + (namesz as usize).div_ceil(4) * 4;
        let next = desc_at + (descsz as usize).div_ceil(4) * 4;
        if next > end || next <= at {
            return;
        }
        let name = &e.data[name_at..name_at + namesz as usize];
        if name == b"GNU\0" {
            let desc = &e.data[desc_at..desc_at + descsz as usize];
            match kind {
                3 => {
                    let label = match desc.len() {
                        20 => "sha1",
                        16 => "md5/uuid",
                        8 => "xxHash",
                        _ => "unknown",
                    };
                    let hex: String = desc.iter().map(|b| format!("{b:02x}")).collect();
                    out.push(format!("BuildID[{label}]={hex}"));
                }
                1 if desc.len() >= 16 => {
                    let os = match e.u32(desc_at) {
                        Some(0) => "GNU/Linux",
                        Some(1) => "GNU/Hurd",
                        Some(2) => "Solaris",
                        Some(3) => "kFreeBSD",
                        _ => "unknown OS",
                    };
                    let v = |i: usize| e.u32(desc_at + 4 * i).unwrap_or(0);
                    out.push(format!("for {os} {}.{}.{}", v(1), v(2), v(3)));
                }
                _ => {}
            }
        }
        at = next;
    }
}

/// What the dynamic section says: (DT_FLAGS_1 present, DF_1_PIE set, DT_NEEDED count).
fn dynamic_info(e: &Elf<'_>, dyn_off: usize, dyn_len: usize) -> (bool, bool, usize) {
    let entry = if e.wide { 16 } else { 8 };
    let end = dyn_off.saturating_add(dyn_len).min(e.data.len());
    let (mut flags_1, mut pie, mut needed) = (false, false, 0);
    let mut at = dyn_off;
    while at + entry <= end {
        let (Some(tag), Some(val)) = (e.addr(at), e.addr(at + entry / 2)) else {
            break;
        };
        match tag {
            0 => break,
            1 => needed += 1,
            0x6fff_fffb => {
                flags_1 = true;
                pie = val & 0x0800_0000 != 0;
            }
            _ => {}
        }
        at += entry;
    }
    (flags_1, pie, needed)
}

/// Does the section header table hold a symbol table (and debug info)?
fn symbols(e: &Elf<'_>) -> Option<(bool, bool)> {
    let (shoff, shentsize, shnum, shstrndx) = if e.wide {
        (e.u64(0x28)?, e.u16(0x3a)?, e.u16(0x3c)?, e.u16(0x3e)?)
    } else {
        (e.u32(0x20)?, e.u16(0x2e)?, e.u16(0x30)?, e.u16(0x32)?)
    };
    if shoff == 0 || shnum == 0 {
        return None;
    }
    let section = |i: u64| -> Option<(u64, u64, u64)> {
        let at = usize::try_from(shoff.checked_add(i * shentsize)?).ok()?;
        let name = e.u32(at)?;
        let kind = e.u32(at + 4)?;
        let off = if e.wide {
            e.u64(at + 24)?
        } else {
            e.u32(at + 16)?
        };
        Some((name, kind, off))
    };
    let strtab = section(shstrndx).map(|(_, _, off)| off);
    let mut symtab = false;
    let mut debug = false;
    for i in 0..shnum.min(4096) {
        let Some((name, kind, _)) = section(i) else {
            break;
        };
        symtab |= kind == 2;
        if let Some(base) = strtab
            && let Some(at) = usize::try_from(base + name).ok()
            && e.data.get(at..at + 12) == Some(b".debug_info\0")
        {
            debug = true;
        }
    }
    Some((symtab, debug))
}

/// file(1)'s description of ELF data (the whole file, or at least its headers).
pub fn describe(data: &[u8]) -> String {
    if data.len() < 0x34 {
        return "ELF".into();
    }
    let e = Elf {
        data,
        wide: data[4] == 2,
        le: data[5] != 2,
    };
    let mut parts = Vec::new();
    let head = format!(
        "ELF {} {}",
        if e.wide { "64-bit" } else { "32-bit" },
        if e.le { "LSB" } else { "MSB" }
    );
    let phdrs = program_headers(&e);
    let dynamic = phdrs.iter().find(|p| p.0 == 2);
    let interp = phdrs.iter().find(|p| p.0 == 3);
    let (flags_1, pie, needed) = dynamic.map_or((false, false, 0), |d| dynamic_info(&e, d.1, d.2));
    let kind = match e.u16(16) {
        Some(1) => "relocatable",
        Some(2) => "executable",
        Some(3) if pie => "pie executable",
        Some(3) => "shared object",
        Some(4) => "core file",
        _ => "unknown type",
    };
    parts.push(format!("{head} {kind}"));
    let machine = match e.u16(18) {
        Some(3) => "Intel 80386",
        Some(0x3e) => "x86-64",
        Some(0xb7) => "ARM aarch64",
        Some(0x28) => "ARM",
        Some(0x15) => "64-bit PowerPC or cisco 7500",
        Some(0x14) => "PowerPC or cisco 4500",
        Some(0x16) => "IBM S/390",
        Some(0xf3) => "UCB RISC-V",
        Some(8) => "MIPS",
        _ => "unknown arch",
    };
    parts.push(machine.to_string());
    let abi = match data[7] {
        0 => "SYSV",
        3 => "GNU/Linux",
        6 => "Solaris",
        9 => "FreeBSD",
        12 => "OpenBSD",
        _ => "unknown",
    };
    parts.push(format!("version {} ({abi})", data[6]));
    if kind != "relocatable" && kind != "core file" {
        // libmagic calls a dynamic object with DT_FLAGS_1 and no DT_NEEDED "static-pie".
        let linking = match (dynamic.is_some(), interp.is_some()) {
            (true, false) if flags_1 && needed == 0 => "static-pie linked",
            (true, _) | (false, true) => "dynamically linked",
            (false, false) => "statically linked",
        };
        parts.push(linking.into());
    }
    if let Some(&(_, off, len)) = interp
        && let Some(bytes) = data.get(off..off.saturating_add(len))
    {
        let path = bytes.split(|&c| c == 0).next().unwrap_or(b"");
        parts.push(format!("interpreter {}", String::from_utf8_lossy(path)));
    }
    for &(kind, off, len) in &phdrs {
        if kind == 4 {
            notes(&e, off, len, &mut parts);
        }
    }
    match symbols(&e) {
        Some((true, true)) => parts.push("with debug_info, not stripped".into()),
        Some((true, false)) => parts.push("not stripped".into()),
        Some((false, _)) => parts.push("stripped".into()),
        None => parts.push("no section header".into()),
    }
    parts.join(", ")
}
