//! Rebuilding refcounts of an image whose dirty bit is set (lazy refcounts left
//! unfinished by a crashed writer), before rfish's first write to it: count every
//! reference from the header, tables and L2 entries, then correct every refcount that
//! disagrees (QEMU docs/interop/qcow2.rst, "incompatible_features", bit 0).

use super::l2::{self, Mapping};
use super::{Qcow2, State, Which};
use crate::block::{BlockError, Result};

/// More clusters than this are left to `qemu-img check -r all`.
const MAX_CLUSTERS: u64 = 64 << 20;

pub(super) fn rebuild_refcounts(q: &Qcow2, st: &mut State) -> Result<()> {
    let cs = q.cs();
    let h = &q.header;
    let clusters = st.file_len.div_ceil(cs);
    if clusters > MAX_CLUSTERS || h.has_bitmaps || h.nb_snapshots > 0 {
        return Err(BlockError::Unsupported(format!(
            "{}: the image's refcounts need repair (dirty bit) and rfish cannot rebuild them for this image; run 'qemu-img check -r all' first",
            q.name
        )));
    }
    let mut want = vec![0u32; clusters as usize];
    let mut add = |what: &'static str, offset: u64, len: u64| -> Result<()> {
        if len == 0 {
            return Ok(());
        }
        for c in offset / cs..=(offset + len - 1) / cs {
            match want.get_mut(c as usize) {
                Some(w) => *w = w.saturating_add(1),
                None => {
                    return Err(BlockError::corrupt(
                        what,
                        format!("cluster {c} lies beyond the end of the file"),
                    ));
                }
            }
        }
        Ok(())
    };
    add("qcow2 header", 0, cs)?;
    add("L1 table", h.l1_table_offset, h.l1_size * 8)?;
    add(
        "refcount table",
        st.reftable_offset,
        st.reftable.len() as u64 * 8,
    )?;
    for &block in &st.reftable.clone() {
        add(
            "refcount table",
            block & l2::OFFSET_MASK,
            if block == 0 { 0 } else { cs },
        )?;
    }
    for i in 0..h.l1_size {
        let (table, _) = q.l1_get(st, i)?;
        if table == 0 {
            continue;
        }
        add("L1 table", table, cs)?;
        for j in 0..q.l2_entries() {
            let (e, bitmap) = q.l2_get(st, table, j)?;
            match l2::decode(e, bitmap, h.cluster_bits, h.version, st.file_len)? {
                Mapping::Data { host, .. } | Mapping::Zero { host } if host != 0 => {
                    add("L2 table", host, cs)?
                }
                Mapping::Compressed { host, len } => {
                    let len = len.min(st.file_len - host);
                    add("L2 table", host, len)?
                }
                _ => {}
            }
        }
    }
    let per = q.refblock_entries();
    for (c, &w) in want.iter().enumerate() {
        let c = c as u64;
        let t = (c / per) as usize;
        if w > 0 && st.reftable.get(t).copied().unwrap_or(0) == 0 {
            return Err(BlockError::Unsupported(format!(
                "{}: refcount block for cluster {c} is missing; run 'qemu-img check -r all' first",
                q.name
            )));
        }
    }
    for t in 0..st.reftable.len() as u64 {
        if st.reftable[t as usize] == 0 {
            continue;
        }
        for c in t * per..(t + 1) * per {
            let w = u64::from(want.get(c as usize).copied().unwrap_or(0));
            if q.refcount(st, c)? != w {
                q.set_refcount(st, c, w)?;
            }
        }
    }
    q.write_dirty(st, Which::Refblock)?;
    q.sync()?;
    st.cursor = 0;
    Ok(())
}
