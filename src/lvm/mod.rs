//! LVM2, read side: physical-volume labels, the text metadata in their metadata areas,
//! and logical volumes as devices made of their PVs' extents (linear segments; other
//! segment types are listed but refused when opened).
//!
//! Format: the label ("LABELONE") in one of the first four sectors, the PV header after
//! it (UUID, data and metadata area lists), each metadata area starting with an mda
//! header whose first raw location points at the current metadata text (which may wrap
//! around the circular area). Every offset and size is checked against the device.

pub mod config;

use crate::bytes::{le32, le64};
use std::sync::Arc;

use crate::block::{Allocation, BlockDev, BlockError, Device, Result, check_range};

use self::config::Value;

/// The largest metadata text read (real ones are a few KiB).
const MAX_METADATA: u64 = 16 << 20;
const MDA_MAGIC: &[u8; 16] = b" LVM2 x[5A%r0N*>";

fn bad(detail: String) -> BlockError {
    BlockError::corrupt("LVM metadata", detail)
}

/// A physical volume found on a device.
#[derive(Clone)]
pub struct PhysicalVolume {
    /// rfish's name of the device (`/dev/sda1`).
    pub name: String,
    /// The device.
    pub dev: Device,
    /// The PV UUID without hyphens.
    pub uuid: String,
    /// Metadata areas: (offset, size) in bytes.
    pub mdas: Vec<(u64, u64)>,
}

/// Read the PV label of a device, if it has one.
pub fn read_label(name: &str, dev: &Device) -> Result<Option<PhysicalVolume>> {
    let size = dev.size();
    for sector in 0..4u64 {
        if (sector + 1) * 512 > size {
            break;
        }
        let mut s = [0u8; 512];
        dev.read_at(&mut s, sector * 512)?;
        if &s[..8] != b"LABELONE" || &s[24..32] != b"LVM2 001" {
            continue;
        }
        let at = le32(&s, 20) as usize;
        if at < 32 || at + 32 + 8 > 512 {
            return Err(bad(format!("{name}: PV header offset {at}")));
        }
        let uuid = String::from_utf8_lossy(&s[at..at + 32]).into_owned();
        // Data area list, then metadata area list, each ended by a zero pair.
        let mut pos = at + 40;
        let mut lists: [Vec<(u64, u64)>; 2] = [Vec::new(), Vec::new()];
        for list in &mut lists {
            loop {
                if pos + 16 > 512 || list.len() > 8 {
                    return Err(bad(format!(
                        "{name}: PV area list runs past the label sector"
                    )));
                }
                let (off, len) = (le64(&s, pos), le64(&s, pos + 8));
                pos += 16;
                if off == 0 && len == 0 {
                    break;
                }
                list.push((off, len));
            }
        }
        let mdas = lists[1]
            .iter()
            .copied()
            .filter(|&(off, len)| off.checked_add(len).is_some_and(|e| e <= size) && len >= 512)
            .collect();
        return Ok(Some(PhysicalVolume {
            name: name.to_string(),
            dev: dev.clone(),
            uuid,
            mdas,
        }));
    }
    Ok(None)
}

/// The current metadata text of a metadata area.
fn read_metadata(pv: &PhysicalVolume, mda: (u64, u64)) -> Result<Option<Vec<u8>>> {
    let (start, size) = mda;
    let mut h = [0u8; 512];
    pv.dev.read_at(&mut h, start)?;
    if &h[4..20] != MDA_MAGIC {
        return Ok(None);
    }
    let (offset, len) = (le64(&h, 40), le64(&h, 48));
    if len == 0 {
        return Ok(None);
    }
    if offset < 512 || offset >= size || len > size - 512 || len > MAX_METADATA {
        return Err(bad(format!(
            "{}: metadata location (offset {offset}, size {len}) lies outside its area",
            pv.name
        )));
    }
    let mut text = vec![0u8; len as usize];
    let first = (size - offset).min(len);
    pv.dev
        .read_at(&mut text[..first as usize], start + offset)?;
    if first < len {
        // The circular buffer wraps to just after the mda header.
        pv.dev.read_at(&mut text[first as usize..], start + 512)?;
    }
    Ok(Some(text))
}

/// One segment of a logical volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// Extents `[start, start+count)` of the LV are extents from `pv_start` of PV `pv`.
    Linear {
        /// First LV extent.
        start: u64,
        /// Extents.
        count: u64,
        /// The PV's name in the VG metadata (pv0, ...).
        pv: String,
        /// First PV extent.
        pv_start: u64,
    },
    /// Extents striped over several PVs in chunks of `stripe_size` bytes.
    Striped {
        /// First LV extent.
        start: u64,
        /// Extents (a multiple of the stripe count).
        count: u64,
        /// Bytes per chunk.
        stripe_size: u64,
        /// (PV name in the metadata, first PV extent) per stripe.
        stripes: Vec<(String, u64)>,
    },
    /// A segment type rfish does not map (thin, snapshot, raid, cache, ...).
    Other(String),
}

/// A logical volume.
#[derive(Debug, Clone)]
pub struct LogicalVolume {
    /// LV name.
    pub name: String,
    /// Its segments.
    pub segments: Vec<Segment>,
}

/// A volume group, as its metadata describes it.
#[derive(Clone)]
pub struct VolumeGroup {
    /// VG name.
    pub name: String,
    /// VG UUID.
    pub uuid: String,
    /// Metadata sequence number (the newest copy wins).
    pub seqno: i64,
    /// Extent size in bytes.
    pub extent_size: u64,
    /// PVs: (metadata name, UUID without hyphens, first extent's byte offset).
    pub pvs: Vec<(String, String, u64)>,
    /// Visible LVs.
    pub lvs: Vec<LogicalVolume>,
    /// The PVs found on the devices.
    pub found: Vec<PhysicalVolume>,
}

fn parse_vg(name: &str, v: &Value) -> Result<VolumeGroup> {
    let extent_sectors = v
        .num("extent_size")
        .filter(|&n| n > 0 && n <= 1 << 32)
        .ok_or_else(|| bad(format!("VG {name}: extent_size")))?;
    let mut pvs = Vec::new();
    for (pv_name, pv) in v
        .get("physical_volumes")
        .map(|p| p.sections())
        .unwrap_or_default()
    {
        let uuid = pv.str("id").unwrap_or("").replace('-', "");
        let pe_start = pv
            .num("pe_start")
            .filter(|&n| n >= 0)
            .ok_or_else(|| bad(format!("VG {name}: {pv_name}: pe_start")))?;
        pvs.push((pv_name.to_string(), uuid, pe_start as u64 * 512));
    }
    let mut lvs = Vec::new();
    for (lv_name, lv) in v
        .get("logical_volumes")
        .map(|l| l.sections())
        .unwrap_or_default()
    {
        let visible = matches!(lv.get("status"), Some(Value::List(l)) if l.contains(&Value::Str("VISIBLE".into())));
        if !visible {
            continue;
        }
        let mut segments = Vec::new();
        for (_, seg) in lv.sections() {
            let start = seg.num("start_extent").filter(|&n| n >= 0).unwrap_or(-1);
            let count = seg.num("extent_count").filter(|&n| n > 0).unwrap_or(-1);
            if start < 0 || count < 0 {
                return Err(bad(format!("LV {name}/{lv_name}: segment extents")));
            }
            let kind = seg.str("type").unwrap_or("");
            let stripes = match seg.get("stripes") {
                Some(Value::List(l)) => l.clone(),
                _ => Vec::new(),
            };
            let pairs: Option<Vec<(String, u64)>> = stripes
                .chunks(2)
                .map(|c| match c {
                    [Value::Str(pv), Value::Num(pe)] if *pe >= 0 => Some((pv.clone(), *pe as u64)),
                    _ => None,
                })
                .collect();
            let n = seg.num("stripe_count").unwrap_or(0);
            let stripe_size = seg.num("stripe_size").filter(|&s| s > 0 && s <= 1 << 24);
            segments.push(match (kind, n, pairs, stripe_size) {
                ("striped", 1, Some(p), _) if p.len() == 1 => Segment::Linear {
                    start: start as u64,
                    count: count as u64,
                    pv: p[0].0.clone(),
                    pv_start: p[0].1,
                },
                ("striped", n, Some(p), Some(size))
                    if n > 1 && p.len() as i64 == n && count % n == 0 =>
                {
                    Segment::Striped {
                        start: start as u64,
                        count: count as u64,
                        stripe_size: size as u64 * 512,
                        stripes: p,
                    }
                }
                ("striped", _, _, _) => Segment::Other("striped (malformed)".into()),
                (k, _, _, _) => Segment::Other(k.to_string()),
            });
        }
        lvs.push(LogicalVolume {
            name: lv_name.to_string(),
            segments,
        });
    }
    lvs.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(VolumeGroup {
        name: name.to_string(),
        uuid: v.str("id").unwrap_or("").to_string(),
        seqno: v.num("seqno").unwrap_or(0),
        extent_size: extent_sectors as u64 * 512,
        pvs,
        lvs,
        found: Vec::new(),
    })
}

/// Find the volume groups on `devices` (name, device), newest metadata per VG.
pub fn scan(devices: &[(String, Device)]) -> Result<Vec<VolumeGroup>> {
    let mut found = Vec::new();
    for (name, dev) in devices {
        if let Some(pv) = read_label(name, dev)? {
            found.push(pv);
        }
    }
    let mut vgs: Vec<VolumeGroup> = Vec::new();
    for pv in &found {
        for &mda in &pv.mdas {
            let Some(text) = read_metadata(pv, mda)? else {
                continue;
            };
            let tree = config::parse(&text)?;
            for (vg_name, vg) in tree.sections() {
                if vg.get("physical_volumes").is_none() {
                    continue;
                }
                let vg = parse_vg(vg_name, vg)?;
                match vgs.iter_mut().find(|v| v.uuid == vg.uuid) {
                    Some(old) if old.seqno >= vg.seqno => {}
                    Some(old) => *old = vg,
                    None => vgs.push(vg),
                }
            }
        }
    }
    for vg in &mut vgs {
        vg.found = found
            .iter()
            .filter(|pv| vg.pvs.iter().any(|(_, uuid, _)| *uuid == pv.uuid))
            .cloned()
            .collect();
    }
    vgs.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(vgs)
}

impl VolumeGroup {
    /// The device and first-extent byte offset of metadata PV `pv`.
    fn pv_area(&self, lv: &LogicalVolume, pv: &str) -> Result<(&PhysicalVolume, u64)> {
        let (_, uuid, pe_start) = self
            .pvs
            .iter()
            .find(|(n, _, _)| n == pv)
            .ok_or_else(|| bad(format!("LV {}/{}: unknown PV {pv}", self.name, lv.name)))?;
        let found = self.found.iter().find(|p| p.uuid == *uuid).ok_or_else(|| {
            BlockError::Unsupported(format!(
                "/dev/{}/{}: physical volume {pv} is missing",
                self.name, lv.name
            ))
        })?;
        Ok((found, *pe_start))
    }

    /// The PV device and byte offset of `extents` extents from `pe`, checked to lie inside.
    fn pv_range(
        &self,
        lv: &LogicalVolume,
        pv: &str,
        pe: u64,
        extents: u64,
    ) -> Result<(Device, u64)> {
        let (found, pe_start) = self.pv_area(lv, pv)?;
        let es = self.extent_size;
        let off = pe.checked_mul(es).and_then(|o| o.checked_add(pe_start));
        let len = extents.checked_mul(es);
        match (off, len) {
            (Some(off), Some(len))
                if off.checked_add(len).is_some_and(|e| e <= found.dev.size()) =>
            {
                Ok((found.dev.clone(), off))
            }
            _ => Err(bad(format!(
                "LV {}/{}: segment lies outside physical volume {} ({})",
                self.name, lv.name, pv, found.name
            ))),
        }
    }

    /// Open logical volume `lv` as a device.
    pub fn open_lv(&self, lv: &LogicalVolume) -> Result<LvDev> {
        let es = self.extent_size;
        let mut pieces = Vec::new();
        for seg in &lv.segments {
            let piece = match seg {
                Segment::Linear {
                    start,
                    count,
                    pv,
                    pv_start,
                } => {
                    let area = self.pv_range(lv, pv, *pv_start, *count)?;
                    Piece {
                        start: start * es,
                        len: count * es,
                        chunk: 0,
                        stripes: vec![area],
                    }
                }
                Segment::Striped {
                    start,
                    count,
                    stripe_size,
                    stripes,
                } => {
                    let per = count / stripes.len() as u64;
                    if (per * es) % stripe_size != 0 {
                        return Err(BlockError::Unsupported(format!(
                            "/dev/{}/{}: stripes that end mid-chunk are not supported natively",
                            self.name, lv.name
                        )));
                    }
                    let mut areas = Vec::new();
                    for (pv, pe) in stripes {
                        areas.push(self.pv_range(lv, pv, *pe, per)?);
                    }
                    Piece {
                        start: start * es,
                        len: count * es,
                        chunk: *stripe_size,
                        stripes: areas,
                    }
                }
                Segment::Other(kind) => {
                    return Err(BlockError::Unsupported(format!(
                        "/dev/{}/{}: {kind} logical volumes are not supported natively",
                        self.name, lv.name
                    )));
                }
            };
            pieces.push(piece);
        }
        pieces.sort_by_key(|p| p.start);
        let mut at = 0;
        for p in &pieces {
            if p.start != at {
                return Err(bad(format!(
                    "LV {}/{}: segments leave a gap or overlap",
                    self.name, lv.name
                )));
            }
            at += p.len;
        }
        Ok(LvDev { size: at, pieces })
    }
}

/// One segment of an LV: linear (one stripe, `chunk` 0) or striped.
struct Piece {
    start: u64,
    len: u64,
    chunk: u64,
    /// (PV device, byte offset of this segment's area on it) per stripe.
    stripes: Vec<(Device, u64)>,
}

impl Piece {
    /// Where byte `x` of the segment lives, and how many bytes follow it there.
    fn locate(&self, x: u64) -> (&Device, u64, u64) {
        if self.chunk == 0 {
            let (dev, off) = &self.stripes[0];
            return (dev, off + x, self.len - x);
        }
        let n = self.stripes.len() as u64;
        let chunk = x / self.chunk;
        let (dev, off) = &self.stripes[(chunk % n) as usize];
        let within = x % self.chunk;
        (
            dev,
            off + (chunk / n) * self.chunk + within,
            self.chunk - within,
        )
    }
}

/// A logical volume: its extents, wherever they lie on the PVs.
pub struct LvDev {
    size: u64,
    /// Segments, sorted and contiguous.
    pieces: Vec<Piece>,
}

impl LvDev {
    /// Call `f(PV device, PV offset, offset in the request, bytes)` for each run of the
    /// request that is contiguous on one PV.
    fn each(
        &self,
        offset: u64,
        len: u64,
        mut f: impl FnMut(&Device, u64, usize, usize) -> Result<()>,
    ) -> Result<()> {
        let mut done = 0u64;
        while done < len {
            let pos = offset + done;
            let i = self.pieces.partition_point(|p| p.start + p.len <= pos);
            let piece = &self.pieces[i];
            let (dev, at, room) = piece.locate(pos - piece.start);
            let n = room.min(len - done);
            f(dev, at, done as usize, n as usize)?;
            done += n;
        }
        Ok(())
    }
}

impl BlockDev for LvDev {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        check_range(offset, buf.len() as u64, self.size)?;
        self.each(offset, buf.len() as u64, |dev, at, from, n| {
            dev.read_at(&mut buf[from..from + n], at)
        })
    }

    fn write_at(&self, buf: &[u8], offset: u64) -> Result<()> {
        check_range(offset, buf.len() as u64, self.size)?;
        self.each(offset, buf.len() as u64, |dev, at, from, n| {
            dev.write_at(&buf[from..from + n], at)
        })
    }

    fn flush(&self) -> Result<()> {
        for p in &self.pieces {
            for (dev, _) in &p.stripes {
                dev.flush()?;
            }
        }
        Ok(())
    }

    fn write_zeroes(&self, offset: u64, len: u64) -> Result<()> {
        check_range(offset, len, self.size)?;
        self.each(offset, len, |dev, at, _, n| dev.write_zeroes(at, n as u64))
    }

    fn block_status(&self, offset: u64, len: u64) -> Result<(u64, Allocation)> {
        check_range(offset, len, self.size)?;
        let i = self.pieces.partition_point(|p| p.start + p.len <= offset);
        let piece = &self.pieces[i];
        let (dev, at, room) = piece.locate(offset - piece.start);
        dev.block_status(at, room.min(len))
    }

    fn is_read_only(&self) -> bool {
        self.pieces
            .iter()
            .any(|p| p.stripes.iter().any(|(d, _)| d.is_read_only()))
    }

    fn format_name(&self) -> &'static str {
        "lvm"
    }
}

/// `/dev/VG/LV` or `/dev/mapper/VG-LV` (with `--` for a `-` in a name) as (VG, LV).
pub fn parse_lv_name(name: &str) -> Option<(String, String)> {
    if let Some(rest) = name.strip_prefix("/dev/mapper/") {
        let mut vg = String::new();
        let mut chars = rest.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '-' {
                if chars.peek() == Some(&'-') {
                    chars.next();
                    vg.push('-');
                } else {
                    let lv: String = chars.collect::<String>().replace("--", "-");
                    return (!vg.is_empty() && !lv.is_empty()).then_some((vg, lv));
                }
            } else {
                vg.push(c);
            }
        }
        return None;
    }
    let rest = name.strip_prefix("/dev/")?;
    let (vg, lv) = rest.split_once('/')?;
    (!vg.is_empty() && !lv.is_empty() && !lv.contains('/') && !["mapper", "disk"].contains(&vg))
        .then(|| (vg.to_string(), lv.to_string()))
}

/// Share an LV device.
pub fn shared(lv: LvDev) -> Device {
    Arc::new(lv)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vg(text: &str) -> VolumeGroup {
        let tree = config::parse(text.as_bytes()).unwrap();
        let (name, v) = tree.sections()[0];
        parse_vg(name, v).unwrap()
    }

    const META: &str = r#"vg {
        id = "V"
        seqno = 2
        extent_size = 8
        physical_volumes { pv0 { id = "P" pe_start = 8 } }
        logical_volumes {
            thin { status = ["READ", "VISIBLE"] seg1 { start_extent = 0 extent_count = 1 type = "thin" } }
            wide { status = ["READ", "VISIBLE"] seg1 { start_extent = 0 extent_count = 2 type = "striped" stripe_count = 2 stripes = ["pv0", 0, "pv0", 4] } }
            hidden { status = ["READ"] seg1 { start_extent = 0 extent_count = 1 type = "striped" stripe_count = 1 stripes = ["pv0", 0] } }
            far { status = ["READ", "VISIBLE"] seg1 { start_extent = 0 extent_count = 1000 type = "striped" stripe_count = 1 stripes = ["pv0", 0] } }
            two { status = ["READ", "VISIBLE"] seg1 { start_extent = 0 extent_count = 2 type = "striped" stripe_count = 2 stripe_size = 1 stripes = ["pv0", 0, "pv0", 4] } }
        }
    }"#;

    #[test]
    fn striped_segments_map_like_dm_stripe_and_other_types_are_refused_clearly() {
        let mut g = vg(META);
        assert_eq!(g.extent_size, 4096);
        let names: Vec<&str> = g.lvs.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(
            names,
            ["far", "thin", "two", "wide"],
            "hidden LVs are not listed"
        );
        let pv: Device = Arc::new(crate::block::overlay::MemOverlay::new(Arc::new(Empty(
            1 << 20,
        ))));
        let pv_dev = pv.clone();
        g.found.push(PhysicalVolume {
            name: "/dev/sda".into(),
            dev: pv,
            uuid: "P".into(),
            mdas: vec![],
        });
        let err = |n: &str| {
            g.open_lv(g.lvs.iter().find(|l| l.name == n).unwrap())
                .err()
                .unwrap()
                .to_string()
        };
        assert!(
            err("thin").contains("thin logical volumes are not supported natively"),
            "{}",
            err("thin")
        );
        assert!(
            err("wide").contains("striped (malformed)"),
            "{}",
            err("wide")
        );
        assert!(
            err("far").contains("outside physical volume"),
            "{}",
            err("far")
        );
        // dm-stripe's layout: 512-byte chunks alternate between the two stripe areas
        // (PV extents 0 and 4, after pe_start = 8 sectors).
        let two = g
            .open_lv(g.lvs.iter().find(|l| l.name == "two").unwrap())
            .unwrap();
        assert_eq!(two.size(), 8192);
        let data: Vec<u8> = (0..2048u32).map(|i| (i / 512) as u8 + 1).collect();
        two.write_at(&data, 0).unwrap();
        let mut b = [0u8; 1];
        for (pv_off, chunk) in [
            (4096u64, 1u8),
            (4096 + 4 * 4096, 2),
            (4096 + 512, 3),
            (4096 + 4 * 4096 + 512, 4),
        ] {
            pv_dev.read_at(&mut b, pv_off).unwrap();
            assert_eq!(b[0], chunk, "chunk at PV offset {pv_off}");
        }
        let mut back = vec![0u8; 2048];
        two.read_at(&mut back, 0).unwrap();
        assert_eq!(back, data);
    }

    /// A zero-filled device for the test above.
    struct Empty(u64);
    impl BlockDev for Empty {
        fn size(&self) -> u64 {
            self.0
        }
        fn read_at(&self, buf: &mut [u8], _offset: u64) -> Result<()> {
            buf.fill(0);
            Ok(())
        }
        fn write_at(&self, _buf: &[u8], _offset: u64) -> Result<()> {
            Err(BlockError::ReadOnly)
        }
        fn flush(&self) -> Result<()> {
            Ok(())
        }
        fn is_read_only(&self) -> bool {
            true
        }
        fn format_name(&self) -> &'static str {
            "raw"
        }
    }
}
