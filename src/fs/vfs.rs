//! The mount table and guest path resolution. Paths resolve inside the guest: symlinks
//! are followed by their guest targets (absolute ones from the guest's `/`), at most 40 of
//! them per lookup, and `..` never climbs above `/` — guest data can never name a host path
//! (../shared/design.md, invariant 2). Mountpoints are crossed by path, as the kernel does.

use std::collections::VecDeque;
use std::sync::Arc;

use super::{Errno, FileType, Filesystem, FsError, FsResult, Ino, Stat};

/// Most symbolic links followed while resolving one path (Linux's MAXSYMLINKS).
pub const MAX_SYMLINKS: u32 = 40;

/// Deepest directory nesting a walk follows (Linux paths stop at 4096 bytes anyway).
pub const MAX_WALK_DEPTH: usize = 2048;

/// One mounted filesystem.
#[derive(Clone)]
pub struct Mount {
    /// The device (or mountable) it came from, as the user named it.
    pub device: String,
    /// Where it is mounted (a normalised absolute guest path).
    pub mountpoint: String,
    /// The filesystem.
    pub fs: Arc<dyn Filesystem>,
    /// Mounted read-only.
    pub read_only: bool,
    /// Mount options as given (`mount-options`, `mount-vfs`).
    pub options: String,
}

impl std::fmt::Debug for Mount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mount")
            .field("device", &self.device)
            .field("mountpoint", &self.mountpoint)
            .field("type", &self.fs.type_name())
            .field("read_only", &self.read_only)
            .finish()
    }
}

/// A resolved guest file: which mount, which inode, and its canonical path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// Index into the mount table.
    pub mount: usize,
    /// Inode within that mount's filesystem.
    pub ino: Ino,
    /// The canonical absolute path (symlinks and `..` resolved).
    pub path: String,
}

/// Why a mount request failed.
#[derive(Debug)]
pub enum MountError {
    /// `/` must be mounted before anything else.
    RootFirst,
    /// The mountpoint does not exist or is not a directory.
    Target(FsError),
    /// Something is already mounted there.
    Busy,
}

/// The mount table (cheap to clone: filesystems are shared).
#[derive(Debug, Default, Clone)]
pub struct Vfs {
    mounts: Vec<Mount>,
}

/// `a` joined with the component `name`.
fn join(a: &str, name: &str) -> String {
    if a == "/" {
        format!("/{name}")
    } else {
        format!("{a}/{name}")
    }
}

/// Lexically normalise an absolute path: no `//`, no `.`, `..` applied, no trailing `/`.
pub fn normalise(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    format!("/{}", parts.join("/"))
}

impl Vfs {
    /// The mounts, in the order they were made.
    pub fn mounts(&self) -> &[Mount] {
        &self.mounts
    }

    /// Is anything mounted?
    pub fn is_empty(&self) -> bool {
        self.mounts.is_empty()
    }

    /// Commit the running transaction of every writable mount.
    pub fn commit_all(&self) -> FsResult<()> {
        for m in &self.mounts {
            if !m.read_only {
                m.fs.commit()?;
            }
        }
        Ok(())
    }

    /// Forget the running transaction of every writable mount.
    pub fn rollback_all(&self) {
        for m in &self.mounts {
            if !m.read_only {
                m.fs.rollback();
            }
        }
    }

    /// The filesystem of mount `i`.
    pub fn fs(&self, node: &Node) -> &dyn Filesystem {
        self.mounts[node.mount].fs.as_ref()
    }

    /// The mount a node is on.
    pub fn mount_of(&self, node: &Node) -> &Mount {
        &self.mounts[node.mount]
    }

    /// Replace the filesystem of mount `i` (a fresh view of the same device).
    pub fn set_fs(&mut self, i: usize, fs: Arc<dyn Filesystem>) {
        if let Some(m) = self.mounts.get_mut(i) {
            m.fs = fs;
        }
    }

    /// The mount whose mountpoint is exactly `path`.
    pub fn mount_at(&self, path: &str) -> Option<usize> {
        // The latest mount on a path hides earlier ones.
        self.mounts.iter().rposition(|m| m.mountpoint == path)
    }

    /// Add a mount at `m.mountpoint` (which must exist as a directory unless it is `/`).
    pub fn mount(&mut self, mut m: Mount) -> Result<(), MountError> {
        m.mountpoint = normalise(&m.mountpoint);
        if m.mountpoint == "/" {
            if self.mount_at("/").is_some() {
                return Err(MountError::Busy);
            }
            self.mounts.push(m);
            return Ok(());
        }
        if self.mount_at("/").is_none() {
            return Err(MountError::RootFirst);
        }
        let target = self
            .resolve(&m.mountpoint, true)
            .map_err(MountError::Target)?;
        if self
            .fs(&target)
            .stat(target.ino)
            .map_err(MountError::Target)?
            .file_type()
            != FileType::Directory
        {
            return Err(MountError::Target(Errno::NotDir.into()));
        }
        if self.mount_at(&target.path).is_some() {
            return Err(MountError::Busy);
        }
        m.mountpoint = target.path;
        self.mounts.push(m);
        Ok(())
    }

    /// Unmount by mountpoint or device name; mounts below it must be unmounted first.
    pub fn umount(&mut self, what: &str) -> FsResult<Mount> {
        let norm = normalise(what);
        let i = self
            .mounts
            .iter()
            .rposition(|m| m.mountpoint == norm || m.device == what)
            .ok_or(FsError::Errno(Errno::Invalid))?;
        let mp = self.mounts[i].mountpoint.clone();
        let below = |m: &Mount| {
            m.mountpoint != mp && (mp == "/" || m.mountpoint.starts_with(&format!("{mp}/")))
        };
        if self.mounts.iter().any(below) {
            return Err(Errno::Busy.into());
        }
        Ok(self.mounts.remove(i))
    }

    /// Unmount everything, deepest first.
    pub fn umount_all(&mut self) -> Vec<Mount> {
        let mut out = std::mem::take(&mut self.mounts);
        out.reverse();
        out
    }

    /// The root node.
    pub fn root(&self) -> FsResult<Node> {
        let mount = self.mount_at("/").ok_or(FsError::Errno(Errno::NotFound))?;
        Ok(Node {
            mount,
            ino: self.mounts[mount].fs.root(),
            path: "/".into(),
        })
    }

    /// Resolve an absolute guest path. `follow_last`: a symlink in the last component is
    /// followed (stat) or not (lstat).
    pub fn resolve(&self, path: &str, follow_last: bool) -> FsResult<Node> {
        let mut stack = vec![self.root()?];
        let mut queue: VecDeque<Vec<u8>> = split(path.as_bytes());
        let mut links = 0u32;
        while let Some(comp) = queue.pop_front() {
            if comp == b"." {
                continue;
            }
            if comp == b".." {
                if stack.len() > 1 {
                    stack.pop();
                }
                continue;
            }
            let cur = stack.last().expect("the root stays on the stack").clone();
            let fs = self.fs(&cur);
            let name = String::from_utf8_lossy(&comp).into_owned();
            let child_ino = fs
                .lookup(cur.ino, &comp)?
                .ok_or(FsError::Errno(Errno::NotFound))?;
            let child_path = join(&cur.path, &name);
            let child = match self.mount_at(&child_path) {
                Some(m) => Node {
                    mount: m,
                    ino: self.mounts[m].fs.root(),
                    path: child_path,
                },
                None => Node {
                    mount: cur.mount,
                    ino: child_ino,
                    path: child_path,
                },
            };
            let last = queue.is_empty();
            let st = self.fs(&child).stat(child.ino)?;
            if st.file_type() == FileType::Symlink && (!last || follow_last) {
                links += 1;
                if links > MAX_SYMLINKS {
                    return Err(Errno::Loop.into());
                }
                let target = self.fs(&child).read_link(child.ino)?;
                if target.is_empty() {
                    return Err(Errno::NotFound.into());
                }
                if target[0] == b'/' {
                    stack.truncate(1);
                }
                for c in split(&target).into_iter().rev() {
                    queue.push_front(c);
                }
                continue;
            }
            if !last && st.file_type() != FileType::Directory {
                // Only a directory (or a link to one) may have a following component.
                return Err(Errno::NotDir.into());
            }
            stack.push(child);
        }
        // A trailing slash requires a directory.
        let node = stack.pop().expect("non-empty");
        if path.ends_with('/') && path.len() > 1 {
            let st = self.fs(&node).stat(node.ino)?;
            if st.file_type() != FileType::Directory {
                return Err(Errno::NotDir.into());
            }
        }
        Ok(node)
    }

    /// The node of entry `name` (inode `ino`) of directory `parent`, as a directory
    /// listing gives it — without resolving the path again. A name no Linux filesystem can
    /// hold (empty, `.`, `..`, containing `/` or NUL) is a corrupt directory.
    pub fn child(&self, parent: &Node, name: &[u8], ino: Ino) -> FsResult<Node> {
        if name.is_empty()
            || name == b"."
            || name == b".."
            || name.contains(&b'/')
            || name.contains(&0)
        {
            return Err(FsError::corrupt(
                "directory entry",
                format!(
                    "{}: entry named {:?}",
                    parent.path,
                    String::from_utf8_lossy(name)
                ),
            ));
        }
        let path = join(&parent.path, &String::from_utf8_lossy(name));
        Ok(match self.mount_at(&path) {
            Some(m) => Node {
                mount: m,
                ino: self.mounts[m].fs.root(),
                path,
            },
            None => Node {
                mount: parent.mount,
                ino,
                path,
            },
        })
    }

    /// Every path below directory `node` (depth first, in directory order; symlinks not
    /// followed; mountpoints crossed), relative to it with `prefix` before each (`/name`,
    /// `/name/sub`, ...). A directory linked below itself — possible only in a crafted
    /// image — is an error, not an endless walk.
    pub fn walk(&self, node: &Node, prefix: &[u8]) -> FsResult<Vec<(Vec<u8>, Node)>> {
        let mut out = Vec::new();
        // A filesystem answering over a channel lists the whole tree in a few requests.
        self.fs(node).prefetch_tree(node.ino)?;
        self.walk_below(node, prefix, &mut out, &mut vec![(node.mount, node.ino)])?;
        Ok(out)
    }

    fn walk_below(
        &self,
        node: &Node,
        prefix: &[u8],
        out: &mut Vec<(Vec<u8>, Node)>,
        ancestors: &mut Vec<(usize, Ino)>,
    ) -> FsResult<()> {
        for e in self.fs(node).read_dir(node.ino)? {
            let c = self.child(node, &e.name, e.ino)?;
            let mut rel = prefix.to_vec();
            rel.push(b'/');
            rel.extend_from_slice(&e.name);
            let is_dir = self.stat(&c)?.file_type() == FileType::Directory;
            out.push((rel.clone(), c.clone()));
            if is_dir {
                if ancestors.contains(&(c.mount, c.ino)) || ancestors.len() >= MAX_WALK_DEPTH {
                    return Err(FsError::corrupt(
                        "directory tree",
                        format!("{}: directory loop", c.path),
                    ));
                }
                ancestors.push((c.mount, c.ino));
                self.walk_below(&c, &rel, out, ancestors)?;
                ancestors.pop();
            }
        }
        Ok(())
    }

    /// stat of a resolved node.
    pub fn stat(&self, node: &Node) -> FsResult<Stat> {
        self.fs(node).stat(node.ino)
    }

    /// The mountpoints strictly below directory `node` that appear as its children
    /// (their names), so listings can show them.
    pub fn is_mountpoint(&self, path: &str) -> bool {
        self.mount_at(path).is_some()
    }
}

fn split(path: &[u8]) -> VecDeque<Vec<u8>> {
    path.split(|&c| c == b'/')
        .filter(|c| !c.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
}
