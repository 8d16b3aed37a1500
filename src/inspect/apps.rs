//! Installed applications (libguestfs' lib/inspect-apps.c): the dpkg status database
//! for deb-based guests. Each stanza with an installed status becomes one application2
//! record; the version `[epoch:]version[-release]` is split as dpkg writes it.

/// One installed package (guestfish's application2 struct).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct App {
    /// Package name.
    pub name: String,
    /// Epoch (0 without one).
    pub epoch: i64,
    /// Upstream version.
    pub version: String,
    /// Debian revision / release.
    pub release: String,
    /// Architecture.
    pub arch: String,
    /// Homepage.
    pub url: String,
    /// Source package name.
    pub source: String,
    /// First line of the description.
    pub summary: String,
    /// The rest of the description.
    pub description: String,
}

/// Parse /var/lib/dpkg/status, sorted by name.
pub fn dpkg_status(text: &str) -> Vec<App> {
    let mut out = Vec::new();
    let mut cur = App::default();
    let mut have_name = false;
    let mut have_version = false;
    let mut installed = false;
    let mut in_description = false;
    let mut desc_lines: Vec<String> = Vec::new();
    for line in text.split('\n') {
        if let Some(cont) = line.strip_prefix(' ') {
            if in_description {
                desc_lines.push(cont.to_string());
                continue;
            }
        } else {
            in_description = false;
        }
        if let Some(v) = line.strip_prefix("Package: ") {
            cur.name = v.to_string();
            have_name = true;
        } else if let Some(v) = line.strip_prefix("Status: ") {
            installed = v.contains("installed");
        } else if let Some(v) = line.strip_prefix("Version: ") {
            let (epoch, rest) = match v.split_once(':') {
                Some((e, r)) => (e.parse::<i64>().unwrap_or(-1), r),
                None => (0, v),
            };
            cur.epoch = epoch;
            match rest.split_once('-') {
                Some((ver, rel)) => {
                    cur.version = ver.into();
                    cur.release = rel.into();
                }
                None => {
                    cur.version = rest.into();
                    cur.release.clear();
                }
            }
            have_version = true;
        } else if let Some(v) = line.strip_prefix("Architecture: ") {
            cur.arch = v.into();
        } else if let Some(v) = line.strip_prefix("Homepage: ") {
            cur.url = v.into();
        } else if let Some(v) = line.strip_prefix("Source: ") {
            cur.source = v.split(' ').next().unwrap_or("").into();
        } else if let Some(v) = line.strip_prefix("Description: ") {
            cur.summary = v.into();
            in_description = true;
        } else if line.is_empty() {
            if installed && have_name && have_version && cur.epoch >= 0 {
                cur.description = desc_lines.join("\n");
                out.push(std::mem::take(&mut cur));
            }
            cur = App::default();
            desc_lines.clear();
            have_name = false;
            have_version = false;
            installed = false;
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}
