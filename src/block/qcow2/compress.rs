//! Compressed clusters (QEMU docs/interop/qcow2.rst, "Compressed Clusters Descriptor",
//! and `compression_type`): raw deflate (no zlib header; QEMU compresses with a 4 KiB
//! window, which any inflater reads) or a zstd frame. Decompression stops once a whole
//! cluster has been produced; producing less is an error.

use std::io::Read;

use flate2::{Decompress, FlushDecompress, Status};

use super::super::{BlockError, Result};
use super::header::Compression;

fn bad(detail: String) -> BlockError {
    BlockError::corrupt("compressed cluster", detail)
}

/// Decompress `input` into `out` (exactly one cluster).
pub fn decompress(kind: Compression, input: &[u8], out: &mut [u8]) -> Result<()> {
    match kind {
        Compression::Deflate => inflate(input, out),
        Compression::Zstd => unzstd(input, out),
    }
}

fn inflate(input: &[u8], out: &mut [u8]) -> Result<()> {
    let mut z = Decompress::new(false);
    loop {
        let in_at = z.total_in() as usize;
        let out_at = z.total_out() as usize;
        let status = z
            .decompress(&input[in_at..], &mut out[out_at..], FlushDecompress::Finish)
            .map_err(|e| bad(format!("deflate data: {e}")))?;
        let produced = z.total_out() as usize;
        if produced == out.len() {
            return Ok(());
        }
        let progressed = produced != out_at || z.total_in() as usize != in_at;
        if status == Status::StreamEnd || !progressed {
            return Err(bad(format!(
                "deflate data ends after {produced} of {} bytes",
                out.len()
            )));
        }
    }
}

fn unzstd(input: &[u8], out: &mut [u8]) -> Result<()> {
    let mut src = input;
    let mut decoder = ruzstd::decoding::StreamingDecoder::new(&mut src)
        .map_err(|e| bad(format!("zstd frame header: {e}")))?;
    decoder
        .read_exact(out)
        .map_err(|e| bad(format!("zstd data: {e}")))
}
