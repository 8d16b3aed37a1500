//! inspect-list-applications2 and its deprecated form inspect-list-applications: the
//! packages of an inspected guest, from dpkg's status file (deb) or the rpm database
//! (sqlite or Berkeley DB, read natively by src/inspect/rpm/).

use super::output::Field;
use super::spec::{ArgKind, ArgSpec, CommandSpec, RetType, arg, declared as cmd};
use super::{CmdError, Ctx, Value};
use crate::fs::vfs::Node;
use crate::fs::{Filesystem, Ino};
use crate::inspect::apps::App;
use crate::inspect::rpm::{self, Backend, DbError, ReadAt};
use crate::session::Session;

static ROOT: &[ArgSpec] = &[arg("root", ArgKind::Device)];

/// Where rpm keeps its database: the classic directory, then Fedora's ≥ 36 one.
const RPM_DB_DIRS: &[&str] = &["/var/lib/rpm", "/usr/lib/sysimage/rpm"];
/// Macro files that may set `%_db_backend`, in the order librpm reads them.
const RPM_MACRO_FILES: &[&str] = &["/usr/lib/rpm/macros", "/etc/rpm/macros"];
/// dpkg's and rpm's files are read whole up to this size (libguestfs: 50 MB for dpkg).
const MAX_DB_READ: u64 = 1 << 30;

/// A guest file read through its filesystem.
struct GuestFile<'a> {
    fs: &'a dyn Filesystem,
    ino: Ino,
    size: u64,
    path: String,
}

impl ReadAt for GuestFile<'_> {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), DbError> {
        let mut done = 0;
        while done < buf.len() {
            let n = self
                .fs
                .read(self.ino, offset + done as u64, &mut buf[done..])
                .map_err(|e| DbError::Read(format!("{}: {e}", self.path)))?;
            if n == 0 {
                return Err(DbError::Corrupt(format!(
                    "{}: read past the end of the file",
                    self.path
                )));
            }
            done += n;
        }
        Ok(())
    }
}

/// Open guest file `path` if it exists and is a regular file.
fn guest_file<'a>(
    s: &'a Session,
    func: &str,
    path: &str,
) -> Result<Option<GuestFile<'a>>, CmdError> {
    let Some(node): Option<Node> = super::fsread::try_resolve(s, func, path, true)? else {
        return Ok(None);
    };
    let st = s
        .vfs
        .stat(&node)
        .map_err(|e| super::fsread::path_error(func, "", path, &e))?;
    if st.file_type() != crate::fs::FileType::Regular {
        return Ok(None);
    }
    Ok(Some(GuestFile {
        fs: s.vfs.fs(&node),
        ino: node.ino,
        size: st.size,
        path: path.to_string(),
    }))
}

/// The rpm database's applications: the backend the guest's macros name, else the first
/// database file found.
fn rpm_applications(s: &Session, func: &str) -> Result<Vec<App>, CmdError> {
    let mut macros = Vec::new();
    for path in RPM_MACRO_FILES {
        if let Some(f) = guest_file(s, func, path)? {
            if f.size <= 1 << 20 {
                let mut buf = vec![0u8; f.size as usize];
                if f.read_exact_at(0, &mut buf).is_ok() {
                    macros.push(buf);
                }
            }
        }
    }
    let texts: Vec<&[u8]> = macros.iter().map(Vec::as_slice).collect();
    let configured = rpm::configured_backend(&texts);
    let db_err = |path: &str, e: DbError| CmdError::api(func, format!("{path}: {e}"));
    for backend in Backend::search_order(configured.as_deref()) {
        for dir in RPM_DB_DIRS {
            let path = format!("{dir}/{}", backend.file_name());
            let Some(file) = guest_file(s, func, &path)? else {
                continue;
            };
            if file.size > MAX_DB_READ {
                return Err(db_err(
                    &path,
                    DbError::Unsupported("a database over 1 GiB".into()),
                ));
            }
            let blobs = match backend {
                Backend::Sqlite => {
                    let wal = guest_file(s, func, &format!("{path}-wal"))?;
                    rpm::sqlite_headers(&file, wal.as_ref().map(|w| w as &dyn ReadAt))
                }
                Backend::Bdb => rpm::bdb_headers(&file),
                Backend::Ndb => Err(DbError::Unsupported("rpm's ndb database format".into())),
            }
            .map_err(|e| db_err(&path, e))?;
            return rpm::applications(&blobs).map_err(|e| db_err(&path, e));
        }
    }
    Err(CmdError::api(
        func,
        format!(
            "no rpm database found (looked for rpmdb.sqlite, Packages and Packages.db in {})",
            RPM_DB_DIRS.join(" and ")
        ),
    ))
}

/// The applications of inspected root `root`, sorted by name.
fn applications(ctx: &mut Ctx<'_>, func: &str, root: &str) -> Result<Vec<App>, CmdError> {
    let format = super::inspect::root_info(ctx.session, func, root)?.package_format();
    match format {
        "deb" => {
            let data = super::fsread::read_all(ctx.session, func, "/var/lib/dpkg/status")?;
            Ok(crate::inspect::apps::dpkg_status(&String::from_utf8_lossy(
                &data,
            )))
        }
        "rpm" => rpm_applications(ctx.session, func),
        _ => Ok(Vec::new()),
    }
}

/// One application as guestfish prints its struct: the `app2_*` fields, or the deprecated
/// struct's `app_*` ones (no arch, no spares).
fn app_fields(a: &App, deprecated: bool) -> Vec<(&'static str, Field)> {
    let s = |v: &str| Field::Str(v.to_string());
    let values = [
        s(&a.name),
        s(""),
        Field::Int(a.epoch),
        s(&a.version),
        s(&a.release),
        s(&a.arch),
        s(""),
        s(""),
        s(""),
        s(&a.url),
        s(&a.source),
        s(&a.summary),
        s(&a.description),
        s(""),
        s(""),
        s(""),
        s(""),
    ];
    if deprecated {
        APP_NAMES
            .iter()
            .zip(APP_FIELDS_IN_APP2)
            .map(|(name, i)| (*name, values[i].clone()))
            .collect()
    } else {
        APP2_NAMES.into_iter().zip(values).collect()
    }
}

/// guestfish's field names of the two structs.
const APP2_NAMES: [&str; 17] = [
    "app2_name",
    "app2_display_name",
    "app2_epoch",
    "app2_version",
    "app2_release",
    "app2_arch",
    "app2_install_path",
    "app2_trans_path",
    "app2_publisher",
    "app2_url",
    "app2_source_package",
    "app2_summary",
    "app2_description",
    "app2_spare1",
    "app2_spare2",
    "app2_spare3",
    "app2_spare4",
];
/// Where each deprecated field sits among the app2 values.
const APP_FIELDS_IN_APP2: [usize; 12] = [0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11, 12];
const APP_NAMES: [&str; 12] = [
    "app_name",
    "app_display_name",
    "app_epoch",
    "app_version",
    "app_release",
    "app_install_path",
    "app_trans_path",
    "app_publisher",
    "app_url",
    "app_source_package",
    "app_summary",
    "app_description",
];

/// `inspect-list-applications2`.
pub static INSPECT_LIST_APPLICATIONS2: CommandSpec = cmd(
    "inspect-list-applications2",
    ROOT,
    RetType::StructList,
    "get list of applications installed in the operating system",
    "The packages installed in the guest, sorted by name: dpkg's status database for deb \
     guests, the rpm database (sqlite with its write-ahead log, or Berkeley DB hash) for \
     rpm guests. The guest's filesystems must be mounted (as -i does).",
    &["inspect-list-applications2 /dev/sda1"],
    |ctx, args| {
        let apps = applications(ctx, "inspect_list_applications2", &args.text(0))?;
        Ok(Value::StructList(
            apps.iter().map(|a| app_fields(a, false)).collect(),
        ))
    },
);

/// `inspect-list-applications` (deprecated: the same list without arch).
pub static INSPECT_LIST_APPLICATIONS: CommandSpec = cmd(
    "inspect-list-applications",
    ROOT,
    RetType::StructList,
    "get list of applications installed in the operating system",
    "The deprecated form of inspect-list-applications2: the same packages, without the \
     architecture.",
    &["inspect-list-applications /dev/sda1"],
    |ctx, args| {
        // guestfish's wrapper reports errors under the new call's name.
        let apps = applications(ctx, "inspect_list_applications2", &args.text(0))?;
        Ok(Value::StructList(
            apps.iter().map(|a| app_fields(a, true)).collect(),
        ))
    },
);
