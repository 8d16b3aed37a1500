//! Looking up a path's context as libselinux's label_file backend does: the key cleaned
//! (`//` → `/`, no trailing `/`) and rewritten by the `.subs_dist` then `.subs` prefix
//! substitutions; literal specs (no metacharacters) win, the last one in file order when
//! several match; otherwise the last matching regex in file order (file_contexts, then
//! .homedirs, then .local); a file-type filter on both; `<<none>>` means "no label".
//!
//! Speed: literals are a hash lookup; regexes are bucketed by the first path component of
//! their literal prefix and prefiltered by that prefix, so a lookup runs only the few
//! regexes that could match.

use std::collections::HashMap;

use super::pcre;
use super::spec::{FileKind, Spec};

/// A compiled regex spec.
struct RegexSpec {
    /// Index into the spec list (input order).
    index: usize,
    /// Text every match starts with.
    prefix: String,
    regex: regex::bytes::Regex,
}

/// A pattern the regex crate could not take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadPattern {
    /// The spec's file index and line.
    pub file: usize,
    /// Its line.
    pub line: usize,
    /// The pattern.
    pub pattern: String,
    /// The regex crate's message.
    pub message: String,
}

/// The loaded policy, ready for lookups.
pub struct Labeler {
    specs: Vec<Spec>,
    literals: HashMap<String, Vec<usize>>,
    /// Regex specs whose prefix has a first component, by that component.
    buckets: HashMap<String, Vec<RegexSpec>>,
    /// The others (a prefix of one component or none).
    global: Vec<RegexSpec>,
    subs_dist: Vec<(String, String)>,
    subs: Vec<(String, String)>,
}

/// The first component of `path` (`/usr` of `/usr/bin/x`), if it has a second.
fn stem(path: &str) -> Option<&str> {
    let rest = path.strip_prefix('/')?;
    let end = rest.find('/')?;
    Some(&path[..=end])
}

/// Parse a substitution file: `src dst` lines.
pub fn parse_subs(text: &[u8]) -> Vec<(String, String)> {
    String::from_utf8_lossy(text)
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            if l.is_empty() || l.starts_with('#') {
                return None;
            }
            let mut w = l.split_whitespace();
            let src = w.next()?.trim_end_matches('/');
            let dst = w.next()?.trim_end_matches('/');
            Some((src.to_string(), dst.to_string()))
        })
        .collect()
}

fn substitute(subs: &[(String, String)], key: &str) -> Option<String> {
    subs.iter().find_map(|(src, dst)| {
        let rest = key.strip_prefix(src.as_str())?;
        (rest.is_empty() || rest.starts_with('/')).then(|| format!("{dst}{rest}"))
    })
}

/// The key libselinux looks up: `//` collapsed, the trailing `/` dropped.
pub fn clean(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        if c == '/' && out.ends_with('/') {
            continue;
        }
        out.push(c);
    }
    if out.len() > 1 && out.ends_with('/') {
        out.pop();
    }
    out
}

impl Labeler {
    /// Compile `specs` (in input order). Patterns the regex crate rejects are returned
    /// (their specs never match).
    pub fn new(
        specs: Vec<Spec>,
        subs_dist: Vec<(String, String)>,
        subs: Vec<(String, String)>,
    ) -> (Labeler, Vec<BadPattern>) {
        let mut literals: HashMap<String, Vec<usize>> = HashMap::new();
        let mut buckets: HashMap<String, Vec<RegexSpec>> = HashMap::new();
        let mut global = Vec::new();
        let mut bad = Vec::new();
        for (index, spec) in specs.iter().enumerate() {
            if !pcre::has_meta(&spec.regex) {
                literals
                    .entry(pcre::unescape(&spec.regex))
                    .or_default()
                    .push(index);
                continue;
            }
            let regex = match regex::bytes::Regex::new(&pcre::translate(&spec.regex)) {
                Ok(r) => r,
                Err(e) => {
                    bad.push(BadPattern {
                        file: spec.file,
                        line: spec.line,
                        pattern: spec.regex.clone(),
                        message: e.to_string(),
                    });
                    continue;
                }
            };
            let prefix = pcre::literal_prefix(&spec.regex);
            let compiled = RegexSpec {
                index,
                prefix: prefix.clone(),
                regex,
            };
            match stem(&prefix) {
                Some(s) => buckets.entry(s.to_string()).or_default().push(compiled),
                None => global.push(compiled),
            }
        }
        (
            Labeler {
                specs,
                literals,
                buckets,
                global,
                subs_dist,
                subs,
            },
            bad,
        )
    }

    /// Number of specs loaded.
    pub fn len(&self) -> usize {
        self.specs.len()
    }

    /// Were no specs loaded?
    pub fn is_empty(&self) -> bool {
        self.specs.is_empty()
    }

    fn kind_ok(&self, index: usize, kind: Option<FileKind>) -> bool {
        match (self.specs[index].kind, kind) {
            (None, _) | (_, None) => true,
            (Some(a), Some(b)) => a == b,
        }
    }

    /// The spec that labels `path` (of `kind`, or any kind), if any.
    pub fn lookup_spec(&self, path: &str, kind: Option<FileKind>) -> Option<&Spec> {
        let mut key = clean(path);
        if let Some(k) = substitute(&self.subs_dist, &key) {
            key = k;
        }
        if let Some(k) = substitute(&self.subs, &key) {
            key = k;
        }
        if let Some(list) = self.literals.get(&key)
            && let Some(&i) = list.iter().rev().find(|&&i| self.kind_ok(i, kind))
        {
            return Some(&self.specs[i]);
        }
        let bucket: &[RegexSpec] = stem(&key)
            .and_then(|s| self.buckets.get(s))
            .map_or(&[], Vec::as_slice);
        // Both lists are in input order: walk them backwards together.
        let (mut a, mut b) = (bucket.len(), self.global.len());
        while a > 0 || b > 0 {
            let take_a = b == 0 || (a > 0 && bucket[a - 1].index > self.global[b - 1].index);
            let r = if take_a {
                a -= 1;
                &bucket[a]
            } else {
                b -= 1;
                &self.global[b]
            };
            if key.starts_with(&r.prefix)
                && self.kind_ok(r.index, kind)
                && r.regex.is_match(key.as_bytes())
            {
                return Some(&self.specs[r.index]);
            }
        }
        None
    }

    /// The context for `path` (`None`: no spec, or `<<none>>`).
    pub fn lookup(&self, path: &str, kind: Option<FileKind>) -> Option<&str> {
        self.lookup_spec(path, kind)?.context.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::super::spec::parse;
    use super::*;

    #[test]
    fn literals_win_then_the_last_regex() {
        let specs = parse(
            "fc",
            0,
            b"/.*\tsystem_u:object_r:default_t:s0\n\
              /etc(/.*)?\tsystem_u:object_r:etc_t:s0\n\
              /etc/shadow\tsystem_u:object_r:shadow_t:s0\n\
              /etc/.*\\.conf\tsystem_u:object_r:conf_t:s0\n\
              /etc/x -d system_u:object_r:xdir_t:s0\n\
              /proc(/.*)?\t<<none>>\n",
        )
        .unwrap();
        let (l, bad) = Labeler::new(specs, vec![], vec![("/srv/www".into(), "/var/www".into())]);
        assert!(bad.is_empty());
        assert_eq!(
            l.lookup("/etc/shadow", None),
            Some("system_u:object_r:shadow_t:s0")
        );
        assert_eq!(
            l.lookup("/etc/a.conf", None),
            Some("system_u:object_r:conf_t:s0")
        );
        assert_eq!(
            l.lookup("/etc//hosts/", None),
            Some("system_u:object_r:etc_t:s0")
        );
        assert_eq!(
            l.lookup("/etc/x", Some(FileKind::Directory)),
            Some("system_u:object_r:xdir_t:s0")
        );
        assert_eq!(
            l.lookup("/etc/x", Some(FileKind::Regular)),
            Some("system_u:object_r:etc_t:s0")
        );
        assert_eq!(l.lookup("/proc/1", None), None);
        assert_eq!(
            l.lookup("/usr", None),
            Some("system_u:object_r:default_t:s0")
        );
    }
}
