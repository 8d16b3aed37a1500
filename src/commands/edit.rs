//! `edit`, `vi` and `emacs`: as guestfish does (common edit/file-edit.c), the file is
//! copied to a host temporary file, the editor runs on it, and when it changed the new
//! content goes to a fresh file in the same guest directory that takes the old file's
//! permissions, owner and extended attributes and is then renamed over it (one
//! transaction: the file is either old or new, never half written).

use std::io::Write;

use super::fsread::{need_root, path_error};
use super::fswrite::{check_rw, new_node, parent_of};
use super::spec::CommandSpec;
use super::{CmdError, Ctx, Value};
use crate::fs::{FileType, SetAttr};

/// The editor command: `$EDITOR` (default vi) for edit, else the named one.
fn editor_for(name: &str) -> String {
    match name {
        "edit" => crate::hostenv::get("EDITOR")
            .map(|e| e.to_string_lossy().into_owned())
            .filter(|e| !e.is_empty())
            .unwrap_or_else(|| "vi".into()),
        other => other.into(),
    }
}

fn edit(ctx: &mut Ctx<'_>, name: &str, path: &str) -> Result<Value, CmdError> {
    let s = &*ctx.session;
    need_root(s, name)?;
    let node = s
        .vfs
        .resolve(path, true)
        .map_err(|e| path_error("download", "", path, &e))?;
    let fs = s.vfs.fs(&node);
    let st = fs
        .stat(node.ino)
        .map_err(|e| path_error("download", "", path, &e))?;
    if st.file_type() != FileType::Regular {
        return Err(CmdError::api(
            "download",
            format!("{path}: Is a directory or not a regular file"),
        ));
    }
    check_rw(s, &node).map_err(|e| path_error(name, "", path, &e))?;
    let mut content = vec![0u8; st.size as usize];
    let mut at = 0;
    while at < content.len() {
        let n = fs
            .read(node.ino, at as u64, &mut content[at..])
            .map_err(|e| path_error("download", "", path, &e))?;
        if n == 0 {
            break;
        }
        at += n;
    }
    content.truncate(at);

    let host_err = |e: std::io::Error| CmdError::api(name, crate::os_error_text(&e));
    let dir = tempfile::tempdir().map_err(host_err)?;
    let leaf = path.rsplit('/').next().unwrap_or("file");
    let tmp = dir.path().join(if leaf.is_empty() { "file" } else { leaf });
    std::fs::write(&tmp, &content).map_err(host_err)?;
    let before = std::fs::metadata(&tmp)
        .and_then(|m| m.modified())
        .map_err(host_err)?;
    std::io::stdout().flush().map_err(host_err)?;
    let script = format!("{} \"$0\"", editor_for(name));
    let mut command = crate::hostenv::shell(script.as_bytes());
    command.arg(&tmp);
    let status = command.status().map_err(host_err)?;
    if !status.success() {
        return Err(CmdError::api(
            name,
            format!("{}: the editor failed", editor_for(name)),
        ));
    }
    let after = std::fs::metadata(&tmp)
        .and_then(|m| m.modified())
        .map_err(host_err)?;
    let edited = std::fs::read(&tmp).map_err(host_err)?;
    if after == before && edited == content {
        return Ok(Value::Unit);
    }

    // Write a new file beside the old one, give it the old one's attributes, rename.
    let real = node.path.clone();
    let (parent, leaf) = parent_of(s, &real).map_err(|e| path_error(name, "", path, &e))?;
    let fs = s.vfs.fs(&parent);
    let fail = |e| path_error(name, "", path, &e);
    let xattrs = fs.xattrs(node.ino).map_err(fail)?;
    let mut tmp_name;
    loop {
        let random = uuid::Uuid::new_v4().simple().to_string();
        tmp_name = format!("{}{}", String::from_utf8_lossy(&leaf), &random[..8]).into_bytes();
        if fs.lookup(parent.ino, &tmp_name).map_err(fail)?.is_none() {
            break;
        }
    }
    let ino = fs
        .create(
            parent.ino,
            &tmp_name,
            &new_node(0o100000 | (st.mode & 0o7777)),
        )
        .map_err(fail)?;
    fs.write(ino, 0, &edited).map_err(fail)?;
    for (k, v) in &xattrs {
        fs.set_xattr(ino, k, Some(v)).map_err(fail)?;
    }
    fs.set_attr(
        ino,
        &SetAttr {
            mode: Some(st.mode & 0o7777),
            uid: Some(st.uid),
            gid: Some(st.gid),
            ..SetAttr::default()
        },
    )
    .map_err(fail)?;
    fs.rename(parent.ino, &tmp_name, parent.ino, &leaf)
        .map_err(fail)?;
    Ok(Value::Unit)
}

/// `edit` / `vi` / `emacs`.
pub static EDIT: CommandSpec = super::fish::free(
    "edit",
    &["vi", "emacs"],
    "filename",
    "edit a file",
    "Copy the file to the host, run $EDITOR (default vi; the alternate names vi and emacs \
     always run those) on it, and if it changed put the new content in place with the old \
     file's permissions, owner and extended attributes.",
    &[
        "edit /etc/hostname",
        "vi /etc/hostname",
        "emacs /etc/hostname",
    ],
    |ctx, args| {
        let name = args.invoked_as.clone().unwrap_or_else(|| "edit".into());
        if args.positional.len() != 1 {
            return Err(CmdError::Fish(format!(
                "use '{name} filename' to edit a file\n"
            )));
        }
        edit(ctx, &name, &args.text(0))
    },
);
