//! The blocks a new filesystem uses, as merged ranges (a multi-terabyte filesystem has
//! few metadata runs, so no bitmap of the whole device is ever held), with libext2fs'
//! first-fit searches: the first free run of N blocks starting in a window.

use std::collections::BTreeMap;

/// Used blocks as disjoint, merged half-open ranges `start -> end`.
#[derive(Debug, Default, Clone)]
pub struct UsedBlocks {
    ranges: BTreeMap<u64, u64>,
}

impl UsedBlocks {
    /// Mark `[start, start + len)` used.
    pub fn mark(&mut self, start: u64, len: u64) {
        if len == 0 {
            return;
        }
        let mut lo = start;
        let mut hi = start + len;
        if let Some((&s, &e)) = self.ranges.range(..=lo).next_back()
            && e >= lo
        {
            lo = s;
            hi = hi.max(e);
        }
        let covered: Vec<(u64, u64)> = self.ranges.range(lo..=hi).map(|(&s, &e)| (s, e)).collect();
        for (s, e) in covered {
            self.ranges.remove(&s);
            hi = hi.max(e);
        }
        self.ranges.insert(lo, hi);
    }

    /// Is block `b` used?
    pub fn is_used(&self, b: u64) -> bool {
        self.ranges
            .range(..=b)
            .next_back()
            .is_some_and(|(_, &e)| b < e)
    }

    /// The end of the used run holding `b`, or `b` when it is free.
    fn skip_used(&self, b: u64) -> u64 {
        match self.ranges.range(..=b).next_back() {
            Some((_, &e)) if b < e => e,
            _ => b,
        }
    }

    /// The first used block at or after `b` (`u64::MAX` when none).
    fn next_used(&self, b: u64) -> u64 {
        self.ranges.range(b..).next().map_or(u64::MAX, |(&s, _)| s)
    }

    /// ext2fs_get_free_blocks2: the first `b` in `[start, finish)` with
    /// `[b, b + num)` free and inside the filesystem's `blocks`.
    pub fn first_free_run(&self, start: u64, finish: u64, num: u64, blocks: u64) -> Option<u64> {
        let mut b = start;
        while b < finish {
            b = self.skip_used(b);
            if b >= finish || b + num > blocks {
                return None;
            }
            let next = self.next_used(b);
            if next >= b + num {
                return Some(b);
            }
            b = next;
        }
        None
    }

    /// The first free block at or after `goal`, wrapping to `first` (ext2fs_new_block2).
    pub fn first_free(&self, goal: u64, first: u64, blocks: u64) -> Option<u64> {
        self.first_free_run(goal, blocks, 1, blocks)
            .or_else(|| self.first_free_run(first, goal, 1, blocks))
    }

    /// Free blocks from `b` up to the next used block or `limit`.
    pub fn free_run_len(&self, b: u64, limit: u64) -> u64 {
        self.next_used(b).min(limit).saturating_sub(b)
    }

    /// Used blocks within `[start, end)`.
    pub fn count_in(&self, start: u64, end: u64) -> u64 {
        let mut n = 0;
        if let Some((_, &e)) = self.ranges.range(..start).next_back()
            && e > start
        {
            n += e.min(end) - start;
        }
        for (&s, &e) in self.ranges.range(start..end) {
            n += e.min(end) - s;
        }
        n
    }

    /// Used ranges overlapping `[start, end)`, clipped to it.
    pub fn ranges_in(&self, start: u64, end: u64) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        if let Some((_, &e)) = self.ranges.range(..start).next_back()
            && e > start
        {
            out.push((start, e.min(end)));
        }
        for (&s, &e) in self.ranges.range(start..end) {
            out.push((s, e.min(end)));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_merge_and_searches_are_first_fit() {
        let mut u = UsedBlocks::default();
        u.mark(10, 5);
        u.mark(20, 5);
        u.mark(15, 5);
        assert_eq!(u.ranges_in(0, 100), vec![(10, 25)]);
        u.mark(30, 2);
        assert_eq!(u.first_free_run(0, 100, 10, 100), Some(0));
        assert_eq!(u.first_free_run(5, 100, 6, 100), Some(32));
        assert_eq!(u.first_free_run(25, 100, 5, 100), Some(25));
        assert_eq!(u.first_free_run(25, 100, 6, 100), Some(32));
        assert_eq!(u.first_free_run(95, 100, 6, 100), None);
        assert_eq!(u.first_free(12, 1, 100), Some(25));
        assert_eq!(u.count_in(12, 31), 14);
        assert!(u.is_used(24) && !u.is_used(25));
    }
}
