//! The shared libraries a host program needs, found the way ldd finds them (DT_NEEDED names
//! searched in the system library directories, recursively, plus the PT_INTERP loader), so
//! the initramfs can carry dynamically linked programs. Only 64-bit little-endian ELF is
//! read; every offset is bounds-checked.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where the dynamic loader looks when there is no ld.so.cache (Debian's multiarch
/// directories first).
pub const LIB_DIRS: &[&str] = &[
    "/lib/x86_64-linux-gnu",
    "/usr/lib/x86_64-linux-gnu",
    "/lib64",
    "/usr/lib64",
    "/lib",
    "/usr/lib",
];

/// What the dynamic section and program headers of an ELF file say it needs.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Needs {
    /// PT_INTERP: the dynamic loader's path (none for a static program).
    pub interpreter: Option<String>,
    /// DT_NEEDED names, in order.
    pub libraries: Vec<String>,
}

fn u16le(d: &[u8], at: usize) -> Option<u64> {
    Some(u64::from(u16::from_le_bytes(
        d.get(at..at.checked_add(2)?)?.try_into().ok()?,
    )))
}

fn u64le(d: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(
        d.get(at..at.checked_add(8)?)?.try_into().ok()?,
    ))
}

/// Entry `i` of a table of `size`-byte entries at `base`, bounds-checked.
fn entry(data: &[u8], base: usize, i: usize, size: usize) -> Option<&[u8]> {
    let at = base.checked_add(i.checked_mul(size)?)?;
    data.get(at..at.checked_add(size)?)
}

fn c_string(d: &[u8], at: usize) -> Option<String> {
    let rest = d.get(at..)?;
    let end = rest.iter().position(|&b| b == 0)?;
    String::from_utf8(rest[..end].to_vec()).ok()
}

/// Read what `data` (an ELF64 little-endian file) needs; `None` when it is not one.
pub fn needs(data: &[u8]) -> Option<Needs> {
    if data.get(..6)? != b"\x7fELF\x02\x01" {
        return None;
    }
    let phoff = usize::try_from(u64le(data, 0x20)?).ok()?;
    let phentsize = usize::try_from(u16le(data, 0x36)?).ok()?;
    let phnum = u16le(data, 0x38)?;
    if phentsize < 56 {
        return None;
    }
    let mut loads = Vec::new();
    let mut dynamic = None;
    let mut out = Needs::default();
    for i in 0..phnum.min(512) as usize {
        let ph = entry(data, phoff, i, phentsize)?;
        let kind = u32::from_le_bytes(ph[..4].try_into().ok()?);
        let offset = u64le(ph, 8)?;
        let vaddr = u64le(ph, 16)?;
        let filesz = u64le(ph, 32)?;
        match kind {
            1 => loads.push((vaddr, offset, filesz)),
            2 => dynamic = Some((offset, filesz)),
            3 => out.interpreter = c_string(data, usize::try_from(offset).ok()?),
            _ => {}
        }
    }
    let Some((dyn_off, dyn_len)) = dynamic else {
        return Some(out);
    };
    let mut strtab = None;
    let mut needed = Vec::new();
    let dyn_off = usize::try_from(dyn_off).ok()?;
    for i in 0..(dyn_len / 16).min(4096) as usize {
        let d = entry(data, dyn_off, i, 16)?;
        let (tag, val) = (u64le(d, 0)?, u64le(d, 8)?);
        match tag {
            0 => break,
            1 => needed.push(val),
            5 => strtab = Some(val),
            _ => {}
        }
    }
    // DT_STRTAB is an address: map it to a file offset through the PT_LOAD segments.
    let strtab = strtab?;
    let (vaddr, offset, _) = loads
        .iter()
        .find(|(v, _, len)| strtab >= *v && strtab - *v < *len)?;
    let base = strtab - vaddr + offset;
    for n in needed {
        let at = usize::try_from(base.checked_add(n)?).ok()?;
        out.libraries.push(c_string(data, at)?);
    }
    Some(out)
}

/// `data` (an ELF64 little-endian executable) cut after the last byte a program header
/// maps, with the section header table dropped — what the loader needs and nothing else
/// (debug builds carry tens of megabytes of DWARF after their segments). `None` when it is
/// not such a file.
pub fn loadable_prefix(data: &[u8]) -> Option<Vec<u8>> {
    if data.get(..6)? != b"\x7fELF\x02\x01" {
        return None;
    }
    let phoff = usize::try_from(u64le(data, 0x20)?).ok()?;
    let phentsize = usize::try_from(u16le(data, 0x36)?).ok()?;
    let phnum = u16le(data, 0x38)? as usize;
    if phentsize < 56 || phnum == 0 {
        return None;
    }
    let mut end = phoff.checked_add(phnum.checked_mul(phentsize)?)?;
    for i in 0..phnum {
        let ph = entry(data, phoff, i, phentsize)?;
        let offset = usize::try_from(u64le(ph, 8)?).ok()?;
        let filesz = usize::try_from(u64le(ph, 32)?).ok()?;
        end = end.max(offset.checked_add(filesz)?);
    }
    let mut out = data.get(..end)?.to_vec();
    // e_shoff, e_shnum, e_shstrndx: no section headers.
    out[0x28..0x30].fill(0);
    out[0x3c..0x40].fill(0);
    Some(out)
}

/// Find library `name` in `dirs` (a name with a `/` is a path).
fn find_library(name: &str, dirs: &[&str]) -> Option<PathBuf> {
    if name.contains('/') {
        return Path::new(name).exists().then(|| PathBuf::from(name));
    }
    dirs.iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.exists())
}

/// Whether `file` (through symlinks) is already one of `files`.
fn packed_file(files: &BTreeMap<String, PathBuf>, file: &Path) -> bool {
    let Ok(real) = std::fs::canonicalize(file) else {
        return false;
    };
    files
        .values()
        .any(|f| std::fs::canonicalize(f).is_ok_and(|c| c == real))
}

/// Every file `programs` need to run, as (path in the appliance, host file to copy):
/// the loader at its PT_INTERP path and each library, recursively, in the directory it
/// was found in. Names not found are returned apart.
pub fn closure(programs: &[&Path]) -> (BTreeMap<String, PathBuf>, Vec<String>) {
    let mut files = BTreeMap::new();
    let mut missing = Vec::new();
    let mut queue: Vec<PathBuf> = programs.iter().map(|p| p.to_path_buf()).collect();
    let mut seen = std::collections::HashSet::new();
    while let Some(file) = queue.pop() {
        if !seen.insert(file.clone()) {
            continue;
        }
        let Ok(data) = std::fs::read(&file) else {
            missing.push(file.display().to_string());
            continue;
        };
        let Some(n) = needs(&data) else {
            continue;
        };
        if let Some(interp) = n.interpreter
            && !files.contains_key(&interp)
        {
            let host = PathBuf::from(&interp);
            files.insert(interp, host.clone());
            queue.push(host);
        }
        for lib in n.libraries {
            match find_library(&lib, LIB_DIRS) {
                // The same file under another name (libc needs the loader, which is
                // already there at its PT_INTERP path): the loader matches it by soname.
                Some(p) if packed_file(&files, &p) => {}
                Some(p) => {
                    let key = p.display().to_string();
                    if let std::collections::btree_map::Entry::Vacant(e) = files.entry(key) {
                        e.insert(p.clone());
                        queue.push(p);
                    }
                }
                None => missing.push(lib),
            }
        }
    }
    (files, missing)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncated_and_foreign_files_are_not_elf() {
        assert_eq!(needs(b""), None);
        assert_eq!(needs(b"\x7fELF\x01\x01"), None);
        let mut hdr = vec![0u8; 64];
        hdr[..6].copy_from_slice(b"\x7fELF\x02\x01");
        hdr[0x20..0x28].copy_from_slice(&u64::MAX.to_le_bytes());
        hdr[0x36] = 56;
        hdr[0x38] = 3;
        assert_eq!(needs(&hdr), None);
    }
}
