//! LVM2, read side: physical-volume labels, the text metadata in their metadata areas,
//! and logical volumes as devices made of their PVs' extents (linear segments; other
//! segment types are listed but refused when opened).
//!
//! Format: the label ("LABELONE") in one of the first four sectors, the PV header after
//! it (UUID, data and metadata area lists), each metadata area starting with an mda
//! header whose first raw location points at the current metadata text (which may wrap
//! around the circular area). Every offset and size is checked against the device.

pub mod config;

use std::sync::Arc;

use crate::block::{Allocation, BlockDev, BlockError, Device, Result, check_range};

use self::config::Value;

/// The largest metadata text read (real ones are a few KiB).
const MAX_METADATA: u64 = 16 << 20;
const MDA_MAGIC: &[u8; 16] = b" LVM2 x[5A%r0N*>";

fn bad(detail: String) -> BlockError {
    BlockError::corrupt("LVM metadata", detail)
}

fn le32(b: &[u8], at: usize) -> u64 {
    u64::from(u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]))
}

fn le64(b: &[u8], at: usize) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(x)
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
    /// A segment type rfish does not map (thin, snapshot, raid, cache, striped > 1, ...).
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
            segments.push(match (kind, seg.num("stripe_count"), stripes.as_slice()) {
                ("striped", Some(1), [Value::Str(pv), Value::Num(pe)]) if *pe >= 0 => {
                    Segment::Linear {
                        start: start as u64,
                        count: count as u64,
                        pv: pv.clone(),
                        pv_start: *pe as u64,
                    }
                }
                (k, n, _) => Segment::Other(if k == "striped" {
                    format!("striped ({} stripes)", n.unwrap_or(0))
                } else {
                    k.to_string()
                }),
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
    /// Open logical volume `lv` as a device.
    pub fn open_lv(&self, lv: &LogicalVolume) -> Result<LvDev> {
        let mut pieces = Vec::new();
        let mut end = 0u64;
        for seg in &lv.segments {
            let Segment::Linear {
                start,
                count,
                pv,
                pv_start,
            } = seg
            else {
                let Segment::Other(kind) = seg else {
                    unreachable!()
                };
                return Err(BlockError::Unsupported(format!(
                    "/dev/{}/{}: {kind} logical volumes are not supported natively",
                    self.name, lv.name
                )));
            };
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
            let es = self.extent_size;
            let lv_off = start.checked_mul(es);
            let len = count.checked_mul(es);
            let pv_off = pv_start
                .checked_mul(es)
                .and_then(|o| o.checked_add(*pe_start));
            let (Some(lv_off), Some(len), Some(pv_off)) = (lv_off, len, pv_off) else {
                return Err(bad(format!(
                    "LV {}/{}: extents overflow",
                    self.name, lv.name
                )));
            };
            if pv_off.checked_add(len).is_none_or(|e| e > found.dev.size()) {
                return Err(bad(format!(
                    "LV {}/{}: segment lies outside physical volume {} ({})",
                    self.name, lv.name, pv, found.name
                )));
            }
            pieces.push((lv_off, len, found.dev.clone(), pv_off));
            end = end.max(lv_off + len);
        }
        pieces.sort_by_key(|p| p.0);
        let mut at = 0;
        for p in &pieces {
            if p.0 != at {
                return Err(bad(format!(
                    "LV {}/{}: segments leave a gap or overlap",
                    self.name, lv.name
                )));
            }
            at += p.1;
        }
        Ok(LvDev { size: end, pieces })
    }
}

/// A logical volume: its extents, wherever they lie on the PVs.
pub struct LvDev {
    size: u64,
    /// (LV offset, length, PV device, PV offset), sorted and contiguous.
    pieces: Vec<(u64, u64, Device, u64)>,
}

impl LvDev {
    fn each(
        &self,
        offset: u64,
        len: u64,
        mut f: impl FnMut(&Device, u64, usize, usize) -> Result<()>,
    ) -> Result<()> {
        let mut done = 0u64;
        while done < len {
            let pos = offset + done;
            let i = self.pieces.partition_point(|p| p.0 + p.1 <= pos);
            let (start, plen, dev, pv_off) = &self.pieces[i];
            let n = (start + plen - pos).min(len - done);
            f(dev, pv_off + (pos - start), done as usize, n as usize)?;
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
            p.2.flush()?;
        }
        Ok(())
    }

    fn write_zeroes(&self, offset: u64, len: u64) -> Result<()> {
        check_range(offset, len, self.size)?;
        self.each(offset, len, |dev, at, _, n| dev.write_zeroes(at, n as u64))
    }

    fn block_status(&self, offset: u64, len: u64) -> Result<(u64, Allocation)> {
        check_range(offset, len, self.size)?;
        let i = self.pieces.partition_point(|p| p.0 + p.1 <= offset);
        let (start, plen, dev, pv_off) = &self.pieces[i];
        let n = (start + plen - offset).min(len);
        dev.block_status(pv_off + (offset - start), n)
    }

    fn is_read_only(&self) -> bool {
        self.pieces.iter().any(|p| p.2.is_read_only())
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
        }
    }"#;

    #[test]
    fn unsupported_segment_types_are_listed_and_refused_clearly() {
        let mut g = vg(META);
        assert_eq!(g.extent_size, 4096);
        let names: Vec<&str> = g.lvs.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["far", "thin", "wide"], "hidden LVs are not listed");
        let pv: Device = Arc::new(crate::block::overlay::MemOverlay::new(Arc::new(Empty(
            1 << 20,
        ))));
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
            err("wide").contains("striped (2 stripes)"),
            "{}",
            err("wide")
        );
        assert!(
            err("far").contains("outside physical volume"),
            "{}",
            err("far")
        );
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
