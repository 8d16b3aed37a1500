//! Kernel module files as the initramfs carries them: decompressed on the host once (the
//! appliance's kernel would otherwise decompress each one at every boot — under TCG,
//! loading ext4 and its dependencies from `.ko.xz` takes about a second) and, where the
//! kernel does not enforce module signatures, without the appended signature (verifying
//! RSA signatures in emulation is as slow).
//!
//! A signed module ends with the signature, a 12-byte `struct module_signature` whose last
//! field is the signature's length (big-endian), and the marker
//! `~Module signature appended~\n`.

use std::io::Read;
use std::path::Path;

/// The marker after a module's signature.
const SIGNATURE_MARKER: &[u8] = b"~Module signature appended~\n";

/// Size of `struct module_signature`.
const SIGNATURE_INFO: usize = 12;

/// `data` without its appended signature (unchanged when it has none or the trailer does
/// not add up).
pub fn strip_signature(data: &mut Vec<u8>) {
    let Some(before_marker) = data.len().checked_sub(SIGNATURE_MARKER.len()) else {
        return;
    };
    if &data[before_marker..] != SIGNATURE_MARKER {
        return;
    }
    let Some(info) = before_marker.checked_sub(SIGNATURE_INFO) else {
        return;
    };
    let len = &data[info + 8..info + 12];
    let sig_len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
    if let Some(start) = info.checked_sub(sig_len) {
        data.truncate(start);
    }
}

/// Whether `kernel_version`'s build refuses unsigned modules (CONFIG_MODULE_SIG_FORCE, or
/// no /boot/config file to say otherwise).
pub fn signatures_enforced(kernel_version: &str) -> bool {
    match std::fs::read_to_string(format!("/boot/config-{kernel_version}")) {
        Ok(config) => config.lines().any(|l| l == "CONFIG_MODULE_SIG_FORCE=y"),
        Err(_) => true,
    }
}

/// Decompress `data` read from `path` by its extension (`.xz` with the host's xz, which
/// Debian and Fedora systems always have; `.zst` and `.gz` in process). `None` when it is
/// not compressed or cannot be decompressed here (then the kernel does it).
pub fn decompress(path: &Path, data: &[u8]) -> Option<Vec<u8>> {
    let name = path.to_string_lossy();
    let mut out = Vec::new();
    if name.ends_with(".ko.zst") {
        ruzstd::decoding::StreamingDecoder::new(data)
            .ok()?
            .read_to_end(&mut out)
            .ok()?;
    } else if name.ends_with(".ko.gz") {
        flate2::read::GzDecoder::new(data)
            .read_to_end(&mut out)
            .ok()?;
    } else if name.ends_with(".ko.xz") {
        let o = std::process::Command::new("xz")
            .arg("-dc")
            .arg(path)
            .stderr(std::process::Stdio::null())
            .output()
            .ok()?;
        if !o.status.success() {
            return None;
        }
        out = o.stdout;
    } else {
        return None;
    }
    // A module is an ELF relocatable object.
    out.starts_with(b"\x7fELF").then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_cut_exactly_and_odd_trailers_left_alone() {
        let mut m = b"\x7fELFmodule-body".to_vec();
        let body = m.len();
        m.extend_from_slice(&[0xaa; 40]);
        m.extend_from_slice(&[0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 40]);
        m.extend_from_slice(SIGNATURE_MARKER);
        strip_signature(&mut m);
        assert_eq!(m.len(), body);
        // A claimed signature longer than the file, or no marker: unchanged.
        let mut odd = b"x".to_vec();
        odd.extend_from_slice(&[0, 0, 2, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]);
        odd.extend_from_slice(SIGNATURE_MARKER);
        let copy = odd.clone();
        strip_signature(&mut odd);
        assert_eq!(odd, copy);
        let mut short = b"~Module".to_vec();
        strip_signature(&mut short);
        assert_eq!(short, b"~Module");
    }
}
