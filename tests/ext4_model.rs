//! A property test of the writer: random sequences of file operations (create, write at
//! offsets, extend with holes, truncate, rename across directories, hard links, symlinks,
//! xattrs, deletes, hundreds of entries in one directory to force htree splits) run by
//! rfish on ext4, ext3, ext2 and journal-less ext4, against a model tree kept here. The
//! result is read back three ways — rfish's own reader, the ext4-view crate and debugfs
//! (`rdump`, `ea_list`) — and each must equal the model; e2fsck must find nothing.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use proptest::prelude::*;
use rfish::fs::FileType;

/// An inode of the model.
#[derive(Debug, Clone, PartialEq)]
enum Node {
    File {
        content: Vec<u8>,
        xattrs: BTreeMap<String, Vec<u8>>,
    },
    Dir,
    Symlink(String),
}

/// The model: paths to inode ids, inode ids to inodes (hard links share an id).
#[derive(Debug, Default, Clone)]
struct Model {
    paths: BTreeMap<String, usize>,
    nodes: Vec<Node>,
}

const NAMES: &[&str] = &[
    "a",
    "b",
    "config",
    "data.bin",
    "x",
    "a-rather-long-file-name-that-fills-directory-blocks-quickly-0123456789",
];

fn join(dir: &str, name: &str) -> String {
    if dir == "/" {
        format!("/{name}")
    } else {
        format!("{dir}/{name}")
    }
}

impl Model {
    fn new() -> Model {
        let mut m = Model::default();
        m.nodes.push(Node::Dir);
        m.paths.insert("/".into(), 0);
        m.nodes.push(Node::Dir);
        m.paths.insert("/lost+found".into(), 1);
        m
    }

    fn node(&self, p: &str) -> Option<&Node> {
        self.paths.get(p).map(|&i| &self.nodes[i])
    }

    fn kind_paths(&self, want: fn(&Node) -> bool) -> Vec<String> {
        self.paths
            .iter()
            .filter(|(p, i)| *p != "/lost+found" && want(&self.nodes[**i]))
            .map(|(p, _)| p.clone())
            .collect()
    }

    fn dirs(&self) -> Vec<String> {
        self.kind_paths(|n| matches!(n, Node::Dir))
    }

    fn files(&self) -> Vec<String> {
        self.kind_paths(|n| matches!(n, Node::File { .. }))
    }

    fn is_empty_dir(&self, p: &str) -> bool {
        let prefix = if p == "/" {
            "/".to_string()
        } else {
            format!("{p}/")
        };
        !self.paths.keys().any(|k| k != p && k.starts_with(&prefix))
    }

    fn add(&mut self, p: String, n: Node) {
        self.nodes.push(n);
        self.paths.insert(p, self.nodes.len() - 1);
    }
}

/// One operation, as numbers the model resolves against its current state.
#[derive(Debug, Clone)]
struct Op {
    kind: u8,
    a: usize,
    b: usize,
    n: u32,
    seed: u8,
}

fn op() -> impl Strategy<Value = Op> {
    (
        0u8..14,
        any::<usize>(),
        any::<usize>(),
        any::<u32>(),
        any::<u8>(),
    )
        .prop_map(|(kind, a, b, n, seed)| Op {
            kind,
            a,
            b,
            n,
            seed,
        })
}

/// Printable content: guestfish strings carry it without quoting trouble.
fn text(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| b'a' + ((seed as usize + i * 7 + i / 13) % 26) as u8)
        .collect()
}

/// Apply `op` to the model; the guestfish command doing the same, if it is valid.
fn apply(m: &mut Model, op: &Op) -> Option<String> {
    let pick = |v: &[String], i: usize| (!v.is_empty()).then(|| v[i % v.len()].clone());
    let name = NAMES[op.b % NAMES.len()];
    match op.kind {
        // Create a file with content.
        0 | 1 => {
            let dir = pick(&m.dirs(), op.a)?;
            let p = join(&dir, name);
            if m.node(&p).is_some() {
                return None;
            }
            let content = text(op.seed, (op.n % 6000) as usize);
            let cmd = format!("write {p} \"{}\"", String::from_utf8_lossy(&content));
            m.add(
                p,
                Node::File {
                    content,
                    xattrs: BTreeMap::new(),
                },
            );
            Some(cmd)
        }
        // Write at an offset (maybe past the end: a hole before the data).
        2 | 3 => {
            let p = pick(&m.files(), op.a)?;
            let offset = (op.n % 400_000) as usize;
            let data = text(op.seed, 1 + op.b % 3000);
            let id = m.paths[&p];
            if let Node::File { content, .. } = &mut m.nodes[id] {
                if content.len() < offset + data.len() {
                    content.resize(offset + data.len(), 0);
                }
                content[offset..offset + data.len()].copy_from_slice(&data);
            }
            Some(format!(
                "pwrite {p} \"{}\" {offset}",
                String::from_utf8_lossy(&data)
            ))
        }
        // Truncate or extend.
        4 => {
            let p = pick(&m.files(), op.a)?;
            let size = (op.n % 300_000) as usize;
            let id = m.paths[&p];
            if let Node::File { content, .. } = &mut m.nodes[id] {
                content.resize(size, 0);
            }
            Some(format!("truncate-size {p} {size}"))
        }
        5 => {
            let dir = pick(&m.dirs(), op.a)?;
            let p = join(&dir, name);
            if m.node(&p).is_some() || p.matches('/').count() > 4 {
                return None;
            }
            m.add(p.clone(), Node::Dir);
            Some(format!("mkdir {p}"))
        }
        // rename(2) across directories (files over files, directories over empty ones).
        6 => {
            let all: Vec<String> = m
                .paths
                .keys()
                .filter(|p| *p != "/" && *p != "/lost+found")
                .cloned()
                .collect();
            let from = pick(&all, op.a)?;
            let to_dir = pick(&m.dirs(), op.b)?;
            let to = join(&to_dir, NAMES[op.n as usize % NAMES.len()]);
            if to == from || to.starts_with(&format!("{from}/")) {
                return None;
            }
            let from_is_dir = matches!(m.node(&from), Some(Node::Dir));
            match m.node(&to) {
                None => {}
                Some(Node::Dir) if from_is_dir && m.is_empty_dir(&to) => {}
                Some(Node::File { .. } | Node::Symlink(_)) if !from_is_dir => {}
                _ => return None,
            }
            if from_is_dir && to.matches('/').count() > 5 {
                return None;
            }
            if m.paths.get(&to) == m.paths.get(&from) {
                // Two links to one inode: rename(2) does nothing and succeeds.
                return Some(format!("rename {from} {to}"));
            }
            m.paths.remove(&to);
            let moved: Vec<(String, usize)> = m
                .paths
                .iter()
                .filter(|(k, _)| *k == &from || k.starts_with(&format!("{from}/")))
                .map(|(k, v)| (k.clone(), *v))
                .collect();
            for (k, v) in moved {
                m.paths.remove(&k);
                m.paths.insert(format!("{to}{}", &k[from.len()..]), v);
            }
            Some(format!("rename {from} {to}"))
        }
        // Hard link.
        7 => {
            let target = pick(&m.files(), op.a)?;
            let dir = pick(&m.dirs(), op.b)?;
            let p = join(&dir, NAMES[op.n as usize % NAMES.len()]);
            if m.node(&p).is_some() {
                return None;
            }
            let id = m.paths[&target];
            m.paths.insert(p.clone(), id);
            Some(format!("ln {target} {p}"))
        }
        // Symlink (fast or slow).
        8 => {
            let dir = pick(&m.dirs(), op.a)?;
            let p = join(&dir, name);
            if m.node(&p).is_some() {
                return None;
            }
            let target = format!(
                "/target/{}",
                String::from_utf8_lossy(&text(op.seed, (op.n % 150) as usize))
            );
            m.add(p.clone(), Node::Symlink(target.clone()));
            Some(format!("ln-s {target} {p}"))
        }
        // Set or remove an xattr.
        9 | 10 => {
            let p = pick(&m.files(), op.a)?;
            let key = format!("user.k{}", op.b % 4);
            let id = m.paths[&p];
            let Node::File { xattrs, .. } = &mut m.nodes[id] else {
                return None;
            };
            if op.kind == 9 {
                // Four values of up to 200 bytes always fit one 1 KiB attribute block.
                let value = text(op.seed, 1 + (op.n % 200) as usize);
                let cmd = format!(
                    "setxattr {key} \"{}\" {} {p}",
                    String::from_utf8_lossy(&value),
                    value.len()
                );
                xattrs.insert(key, value);
                Some(cmd)
            } else {
                xattrs.remove(&key)?;
                Some(format!("removexattr {key} {p}"))
            }
        }
        // Unlink a file or symlink.
        11 => {
            let victims = m.kind_paths(|n| !matches!(n, Node::Dir));
            let p = pick(&victims, op.a)?;
            m.paths.remove(&p);
            Some(format!("rm {p}"))
        }
        // Remove an empty directory.
        12 => {
            let empty: Vec<String> = m
                .dirs()
                .into_iter()
                .filter(|d| d != "/" && m.is_empty_dir(d))
                .collect();
            let p = pick(&empty, op.a)?;
            m.paths.remove(&p);
            Some(format!("rmdir {p}"))
        }
        // Hundreds of entries in one directory (htree splits), then drop some.
        _ => {
            let dir = pick(&m.dirs(), op.a)?;
            let count = 100 + op.n % 500;
            let mut cmds = vec![format!("fill-dir {dir} {count}")];
            for i in 0..count {
                let p = join(&dir, &format!("{i:08}"));
                if m.node(&p).is_none() {
                    m.add(
                        p,
                        Node::File {
                            content: Vec::new(),
                            xattrs: BTreeMap::new(),
                        },
                    );
                }
            }
            for i in (0..count).step_by(3 + op.b % 5) {
                let p = join(&dir, &format!("{i:08}"));
                if matches!(m.node(&p), Some(Node::File { .. })) {
                    m.paths.remove(&p);
                    cmds.push(format!("rm {p}"));
                }
            }
            Some(cmds.join("\n"))
        }
    }
}

/// The tree as rfish's reader sees it.
fn read_with_rfish(img: &Path) -> BTreeMap<String, Node> {
    let vfs = common::open_ext4(img);
    let mut out = BTreeMap::new();
    let mut stack = vec!["/".to_string()];
    while let Some(dir) = stack.pop() {
        let node = vfs.resolve(&dir, false).expect("dir");
        out.insert(dir.clone(), Node::Dir);
        for e in vfs.fs(&node).read_dir(node.ino).expect("read_dir") {
            let p = join(&dir, &String::from_utf8_lossy(&e.name));
            let n = vfs.resolve(&p, false).expect("resolve");
            let fs = vfs.fs(&n);
            let st = fs.stat(n.ino).expect("stat");
            match st.file_type() {
                FileType::Directory => stack.push(p),
                FileType::Symlink => {
                    let t = fs.read_link(n.ino).expect("readlink");
                    out.insert(p, Node::Symlink(String::from_utf8_lossy(&t).into_owned()));
                }
                _ => {
                    let mut content = vec![0u8; st.size as usize];
                    let got = fs.read(n.ino, 0, &mut content).expect("read");
                    content.truncate(got);
                    let xattrs = fs
                        .xattrs(n.ino)
                        .expect("xattrs")
                        .into_iter()
                        .map(|(k, v)| (String::from_utf8_lossy(&k).into_owned(), v))
                        .collect();
                    out.insert(p, Node::File { content, xattrs });
                }
            }
        }
    }
    out
}

/// The model's tree, xattrs kept only where `with_xattrs`.
fn expected(m: &Model, with_xattrs: bool) -> BTreeMap<String, Node> {
    m.paths
        .iter()
        .map(|(p, &i)| {
            let n = match &m.nodes[i] {
                Node::File { content, xattrs } => Node::File {
                    content: content.clone(),
                    xattrs: if with_xattrs {
                        xattrs.clone()
                    } else {
                        BTreeMap::new()
                    },
                },
                other => other.clone(),
            };
            (p.clone(), n)
        })
        .collect()
}

/// The tree as debugfs's rdump writes it out (no xattrs: ea_list checks those).
fn read_with_debugfs(img: &Path, dir: &Path) -> BTreeMap<String, Node> {
    let out = dir.join("rdump");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir(&out).expect("rdump dir");
    common::run_tool(
        Command::new("debugfs")
            .args(["-R", &format!("rdump / {}", out.display())])
            .arg(img),
    );
    let mut tree = BTreeMap::new();
    tree.insert("/".to_string(), Node::Dir);
    fn walk(root: &Path, rel: &str, tree: &mut BTreeMap<String, Node>) {
        for e in std::fs::read_dir(root.join(rel.trim_start_matches('/'))).expect("read_dir") {
            let e = e.expect("entry");
            let name = e.file_name().into_string().expect("utf-8");
            let p = join(rel, &name);
            let ft = e.file_type().expect("type");
            if ft.is_dir() {
                tree.insert(p.clone(), Node::Dir);
                walk(root, &p, tree);
            } else if ft.is_symlink() {
                let t = std::fs::read_link(e.path()).expect("readlink");
                tree.insert(p, Node::Symlink(t.to_string_lossy().into_owned()));
            } else {
                let content = std::fs::read(e.path()).expect("read");
                tree.insert(
                    p,
                    Node::File {
                        content,
                        xattrs: BTreeMap::new(),
                    },
                );
            }
        }
    }
    walk(&out, "/", &mut tree);
    tree
}

fn check_ext4_view(img: &Path, want: &BTreeMap<String, Node>) {
    let view = ext4_view::Ext4::load_from_path(img).expect("ext4-view load");
    for (p, n) in want {
        match n {
            Node::File { content, .. } => {
                let got = view.read(p.as_str()).expect("ext4-view read");
                assert!(&got == content, "ext4-view: {p}: content differs");
            }
            Node::Symlink(t) => {
                let got = view.read_link(p.as_str()).expect("ext4-view read_link");
                assert_eq!(got.as_ref(), t.as_bytes(), "ext4-view: {p}");
            }
            Node::Dir => {
                let entries = view.read_dir(p.as_str()).expect("ext4-view read_dir");
                let names = entries
                    .filter_map(Result::ok)
                    .map(|e| e.file_name().as_str().unwrap_or("").to_string())
                    .filter(|n| n != "." && n != "..")
                    .count();
                let prefix = if p == "/" {
                    "/".to_string()
                } else {
                    format!("{p}/")
                };
                let children = want
                    .keys()
                    .filter(|k| {
                        k.starts_with(&prefix)
                            && !k[prefix.len()..].contains('/')
                            && k.len() > prefix.len()
                    })
                    .count();
                assert_eq!(names, children, "ext4-view: {p}: entries");
            }
        }
    }
}

/// The first difference between two trees, for failure messages.
fn first_difference(got: &BTreeMap<String, Node>, want: &BTreeMap<String, Node>) -> String {
    for (p, w) in want {
        match got.get(p) {
            None => return format!("{p} is missing"),
            Some(g) if g != w => {
                return match (g, w) {
                    (
                        Node::File {
                            content: a,
                            xattrs: xa,
                        },
                        Node::File {
                            content: b,
                            xattrs: xb,
                        },
                    ) => {
                        let at = a.iter().zip(b).position(|(x, y)| x != y);
                        format!(
                            "{p}: {} bytes vs {} expected, first differing byte {at:?}, xattrs {:?} vs {:?}",
                            a.len(),
                            b.len(),
                            xa.keys().collect::<Vec<_>>(),
                            xb.keys().collect::<Vec<_>>()
                        )
                    }
                    _ => format!("{p}: {g:?} vs {w:?}"),
                };
            }
            _ => {}
        }
    }
    match got.keys().find(|k| !want.contains_key(*k)) {
        Some(extra) => format!("{extra} should not exist"),
        None => "no difference".into(),
    }
}

fn run_case(kind: usize, ops: &[Op]) -> Result<(), TestCaseError> {
    let variants: [(&str, &[&str]); 4] = [
        ("ext4", &["-t", "ext4", "-b", "1024"]),
        ("ext3", &["-t", "ext3", "-b", "1024"]),
        ("ext2", &["-t", "ext2", "-b", "1024"]),
        ("ext4-nojournal", &["-t", "ext4", "-O", "^has_journal"]),
    ];
    let (name, opts) = variants[kind % variants.len()];
    let tmp = tempfile::tempdir().expect("tmp");
    let img = tmp.path().join("m.img");
    std::fs::File::create(&img)
        .expect("create")
        .set_len(24 << 20)
        .expect("size");
    common::run_tool(
        Command::new("mke2fs")
            .args(["-q", "-F"])
            .args(opts)
            .arg(&img),
    );
    let mut model = Model::new();
    let mut script = String::from("add m.img format:raw\nrun\nmount /dev/sda /\n");
    let mut applied = 0;
    for op in ops {
        if let Some(cmd) = apply(&mut model, op) {
            script.push_str(&cmd);
            script.push('\n');
            applied += 1;
        }
    }
    let (_, err, status) = common::rfish_raw(tmp.path(), &[], &script);
    prop_assert_eq!(status, 0, "{}: {} ops: {}", name, applied, err);
    let fsck = Command::new("e2fsck")
        .arg("-fn")
        .arg(&img)
        .output()
        .expect("e2fsck");
    prop_assert!(
        fsck.status.success(),
        "{}: e2fsck: {}{}",
        name,
        String::from_utf8_lossy(&fsck.stdout),
        String::from_utf8_lossy(&fsck.stderr)
    );
    let want = expected(&model, true);
    let ours = read_with_rfish(&img);
    prop_assert!(
        ours == want,
        "{}: rfish reads back another tree: {}\nscript:\n{}",
        name,
        first_difference(&ours, &want),
        script
    );
    let dumped = read_with_debugfs(&img, tmp.path());
    let plain = expected(&model, false);
    prop_assert!(
        dumped == plain,
        "{}: debugfs rdump gives another tree: {}\nscript:\n{}",
        name,
        first_difference(&dumped, &plain),
        script
    );
    for (p, n) in &want {
        if let Node::File { xattrs, .. } = n
            && !xattrs.is_empty()
        {
            let ea = common::run_tool(
                Command::new("debugfs")
                    .args(["-R", &format!("ea_list {p}")])
                    .arg(&img),
            );
            let text = String::from_utf8_lossy(&ea.stdout);
            for (k, v) in xattrs {
                prop_assert!(
                    text.contains(&format!(
                        "{k} ({}) = \"{}\"",
                        v.len(),
                        String::from_utf8_lossy(v)
                    )) || text.contains(&format!("{k} ({})", v.len())),
                    "{}: {}: debugfs ea_list lacks {}: {}",
                    name,
                    p,
                    k,
                    text
                );
            }
        }
    }
    // ext4-view reads holes in ext2/3 block maps as block 0: extent filesystems only.
    if name.starts_with("ext4") {
        check_ext4_view(&img, &expected(&model, false));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        // RFISH_MODEL_CASES runs a longer search (CI runs 24).
        cases: std::env::var("RFISH_MODEL_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(24),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_operation_sequences_match_the_model(kind in 0usize..4, ops in proptest::collection::vec(op(), 1..60)) {
        run_case(kind, &ops)?;
    }
}

#[test]
fn a_sequence_the_property_test_once_found() {
    // A rename between two hard links of one inode does nothing (POSIX): the model once
    // got this wrong, and the property test caught the disagreement.
    let ops = [
        (
            0u8,
            972387usize,
            7985023322303323285usize,
            3451064978u32,
            84u8,
        ),
        (0, 3883619446046026509, 12723296821689251214, 4162753285, 17),
        (
            11,
            14340780377839215565,
            5515989543724190909,
            2455126318,
            51,
        ),
        (7, 4329635949701274545, 120167966276895178, 944555384, 139),
        (6, 1798724030827641099, 2793258708949233839, 742579902, 59),
        (
            13,
            17682235760240838198,
            8921534435545985886,
            2868200046,
            134,
        ),
        (13, 3031402703581659854, 8827203336684245213, 2356698137, 92),
    ]
    .map(|(kind, a, b, n, seed)| Op {
        kind,
        a,
        b,
        n,
        seed,
    });
    run_case(0, &ops).unwrap();
}
