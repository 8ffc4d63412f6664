//! Who uses the cache, and which of those users this run can see.
//!
//! # Why
//!
//! A run finds venvs by walking directories it can read. Another user's home usually is
//! not one of them, so on a cache several users write (uv documents group-writable shared
//! caches) a symlink-mode venv of another user is invisible, and removing the archive it
//! links breaks it at import time. So a run either sees every user of the cache or keeps
//! every archive: the doubt is the `shared-cache` evidence, and the fix is a run as root
//! with `--all-users`, which searches each user's home, uv tool dir and registered roots.
//!
//! # Who uses the cache
//!
//! - the owners of the cache root, of each top-level entry (the buckets, `archive-v0`
//!   among them) and of each archive (from the inventory's own `lstat`: no second walk);
//! - the members of a group that may write the cache root or a top-level directory: the
//!   names `/etc/group` lists plus every user whose primary group it is. With per-user
//!   private groups and umask 002 (Ubuntu), a group-writable cache whose group is its
//!   owner's private group has one member, the owner: it is not shared. A group the
//!   database cannot list counts as users we cannot see;
//! - everyone, when others may write one of those directories;
//! - the users and groups a POSIX ACL on one of those directories lets write (the access
//!   and the default ACL, `setfacl -m u:bob:rwx`): a cache shared that way has no group
//!   or others write bit to tell.
//!
//! The databases are read with `/usr/bin/getent` by absolute path and with an empty
//! environment: root may run this under `sudo -E` with a user's `PATH` and variables.
//! The common case (everything owned by the effective user, nothing writable by a group
//! with other members) runs no command at all.
//!
//! # Who this run sees
//!
//! The effective user. As root, root itself, and the user whose home is `$HOME` (that home
//! is walked) only if `$SUDO_UID`, when set, is that user: a sudo rule that keeps the
//! environment must not let anyone point `HOME` at another user's home to be counted as
//! them. With `--all-users` (root only), every user of the cache whose home can be read
//! and whose registry (if any) is trusted, since their trees are then searched.
//!
//! A cache writable by others is never seen whole: "every user" includes service accounts
//! whose home is `/`, `/bin` or `/nonexistent`. It keeps every archive, and the message
//! says to make it group-writable instead.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;

use crate::cache::inventory::Inventory;
use crate::cache::locate::CacheDir;
use crate::discover::{RootOrigin, RootSpec};

/// The name service switch's lookup tool, by absolute path: never found through `PATH`.
const GETENT: &str = "/usr/bin/getent";

/// A registry bigger than this is not one of ours (the state module's own cap).
const REGISTRY_MAX: u64 = 4 << 20;

/// At most this many unseen users are named in the evidence; the rest are counted.
const NAMED_MAX: usize = 8;

/// The effective user id of this process.
pub fn effective_uid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// `name (uid N)` from the password database, or `uid N` for an id without an account:
/// for messages that name the owner of something.
pub fn describe_uid(uid: u32) -> String {
    Database::system().describe(uid)
}

/// One line of the password database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: PathBuf,
}

/// One line of the group database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub gid: u32,
    pub members: Vec<String>,
}

/// Where the databases come from: `getent`, or fixed text (unit tests).
enum Source {
    Getent,
    #[cfg(test)]
    Fixed {
        passwd: String,
        group: String,
    },
}

/// The password and group databases, each read once and only when needed.
pub struct Database {
    source: Source,
    passwd: Option<Result<Vec<Account>, String>>,
    groups: BTreeMap<u32, Result<Option<Group>, String>>,
}

impl Database {
    /// The system's databases, through `getent`.
    pub fn system() -> Self {
        Self {
            source: Source::Getent,
            passwd: None,
            groups: BTreeMap::new(),
        }
    }

    /// Fixed databases, in `/etc/passwd` and `/etc/group` syntax.
    #[cfg(test)]
    fn fixed(passwd: &str, group: &str) -> Self {
        Self {
            source: Source::Fixed {
                passwd: passwd.to_owned(),
                group: group.to_owned(),
            },
            passwd: None,
            groups: BTreeMap::new(),
        }
    }

    /// Every account, or why they cannot be listed.
    pub fn accounts(&mut self) -> Result<&[Account], String> {
        if self.passwd.is_none() {
            let text = match &self.source {
                Source::Getent => getent(&["passwd"]).and_then(|found| {
                    found.ok_or_else(|| "the password database cannot be listed".to_owned())
                }),
                #[cfg(test)]
                Source::Fixed { passwd, .. } => Ok(passwd.clone()),
            };
            self.passwd = Some(text.map(|text| text.lines().filter_map(parse_account).collect()));
        }
        match self.passwd.as_ref() {
            Some(Ok(accounts)) => Ok(accounts),
            Some(Err(why)) => Err(why.clone()),
            None => Err("the password database was not read".to_owned()),
        }
    }

    /// The group `gid`: `None` when the database has no such group.
    fn group(&mut self, gid: u32) -> Result<Option<Group>, String> {
        let source = &self.source;
        self.groups
            .entry(gid)
            .or_insert_with(|| {
                let text = match source {
                    Source::Getent => getent(&["group", &gid.to_string()]),
                    #[cfg(test)]
                    Source::Fixed { group, .. } => Ok(Some(group.clone())),
                }?;
                Ok(text
                    .unwrap_or_default()
                    .lines()
                    .filter_map(parse_group)
                    .find(|g| g.gid == gid))
            })
            .clone()
    }

    /// Every member of group `gid`: the names it lists and the users whose primary
    /// group it is. An error says why some members cannot be known.
    fn members(&mut self, gid: u32) -> Result<BTreeSet<u32>, String> {
        let group = self
            .group(gid)?
            .ok_or_else(|| format!("group {gid} is not in the group database"))?;
        let accounts = self.accounts()?;
        let mut uids: BTreeSet<u32> = accounts
            .iter()
            .filter(|a| a.gid == gid)
            .map(|a| a.uid)
            .collect();
        for name in &group.members {
            match accounts.iter().find(|a| &a.name == name) {
                Some(account) => uids.insert(account.uid),
                None => {
                    return Err(format!(
                        "group {gid} lists {name}, who is not in the password database"
                    ));
                }
            };
        }
        Ok(uids)
    }

    /// `name (uid N)`, or `uid N` for an id without an account.
    fn describe(&mut self, uid: u32) -> String {
        match self
            .accounts()
            .ok()
            .and_then(|all| all.iter().find(|a| a.uid == uid))
        {
            Some(account) => format!("{} (uid {uid})", account.name),
            None => format!("uid {uid}"),
        }
    }
}

/// Runs `getent ARGS` with an empty environment; `Ok(None)` when it found nothing.
fn getent(args: &[&str]) -> Result<Option<String>, String> {
    let output = Command::new(GETENT)
        .args(args)
        .env_clear()
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {GETENT} {}: {e}", args.join(" ")))?;
    match output.status.code() {
        Some(0) => Ok(Some(String::from_utf8_lossy(&output.stdout).into_owned())),
        // 2: no such key.
        Some(2) => Ok(None),
        _ => Err(format!(
            "{GETENT} {} failed ({}): the database cannot be read",
            args.join(" "),
            output.status
        )),
    }
}

/// `name:x:uid:gid:gecos:home:shell`.
fn parse_account(line: &str) -> Option<Account> {
    let fields: Vec<&str> = line.split(':').collect();
    if fields.len() < 7 {
        return None;
    }
    Some(Account {
        name: fields[0].to_owned(),
        uid: fields[2].parse().ok()?,
        gid: fields[3].parse().ok()?,
        home: PathBuf::from(fields[5]),
    })
}

/// `name:x:gid:member,member`.
fn parse_group(line: &str) -> Option<Group> {
    let fields: Vec<&str> = line.split(':').collect();
    if fields.len() < 4 {
        return None;
    }
    Some(Group {
        gid: fields[2].parse().ok()?,
        members: fields[3]
            .split(',')
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .map(str::to_owned)
            .collect(),
    })
}

/// Owners and modes of the cache root and its top-level entries: one listing, no walk.
#[derive(Debug, Default)]
struct Stats {
    owners: BTreeSet<u32>,
    /// Groups that may write a directory, with the first such directory.
    writing_groups: BTreeMap<u32, PathBuf>,
    /// A directory others may write.
    world_writable: Option<PathBuf>,
    /// Entries whose owner could not be learnt.
    unknown: Vec<String>,
}

impl Stats {
    fn add(&mut self, path: &Path, meta: &std::fs::Metadata) {
        self.owners.insert(meta.uid());
        if !meta.is_dir() {
            return;
        }
        for name in ["system.posix_acl_access", "system.posix_acl_default"] {
            let mut buf = [0u8; ACL_MAX];
            let len = match rustix::fs::lgetxattr(path, name, &mut buf) {
                Ok(len) => len,
                // No ACL (the common case), or a filesystem without them.
                Err(rustix::io::Errno::NODATA | rustix::io::Errno::NOTSUP) => continue,
                Err(err) => {
                    self.unknown
                        .push(format!("the ACL of {}: {err}", path.display()));
                    continue;
                }
            };
            match acl_writers(&buf[..len.min(ACL_MAX)]) {
                Some(writers) => {
                    self.owners.extend(writers.users);
                    for gid in writers.groups {
                        self.writing_groups
                            .entry(gid)
                            .or_insert_with(|| path.to_owned());
                    }
                }
                None => self
                    .unknown
                    .push(format!("the ACL of {} cannot be read", path.display())),
            }
        }
        if meta.mode() & 0o002 != 0 && self.world_writable.is_none() {
            self.world_writable = Some(path.to_owned());
        }
        if meta.mode() & 0o020 != 0 {
            self.writing_groups
                .entry(meta.gid())
                .or_insert_with(|| path.to_owned());
        }
    }
}

/// The longest ACL read: 4 bytes of header and 8 per entry, so 8,190 entries.
const ACL_MAX: usize = 65_536;

/// The named users and groups a POSIX ACL (the kernel's `system.posix_acl_*` xattr:
/// a version 2 header, then `tag: u16, perm: u16, id: u32` little-endian entries) lets
/// write. `None` when the bytes are not such an ACL.
#[derive(Debug, Default, PartialEq, Eq)]
struct AclWriters {
    users: Vec<u32>,
    groups: Vec<u32>,
}

fn acl_writers(bytes: &[u8]) -> Option<AclWriters> {
    const USER: u16 = 0x02;
    const GROUP: u16 = 0x08;
    const WRITE: u16 = 0x02;
    let (header, entries) = bytes.split_at_checked(4)?;
    if u32::from_le_bytes(header.try_into().ok()?) != 2 || entries.len() % 8 != 0 {
        return None;
    }
    let mut writers = AclWriters::default();
    for entry in entries.chunks_exact(8) {
        let tag = u16::from_le_bytes([entry[0], entry[1]]);
        let perm = u16::from_le_bytes([entry[2], entry[3]]);
        let id = u32::from_le_bytes([entry[4], entry[5], entry[6], entry[7]]);
        // The mask may take the write bit away again; counting a user it masks keeps more,
        // never less.
        if perm & WRITE == 0 {
            continue;
        }
        match tag {
            USER => writers.users.push(id),
            GROUP => writers.groups.push(id),
            _ => {}
        }
    }
    Some(writers)
}

fn stats(cache: &CacheDir, inventory: &Inventory) -> Stats {
    let mut stats = Stats::default();
    let root = cache.real();
    match std::fs::metadata(root) {
        Ok(meta) => stats.add(root, &meta),
        Err(err) => stats.unknown.push(format!("{}: {err}", root.display())),
    }
    match std::fs::read_dir(root) {
        Ok(entries) => {
            for entry in entries {
                match entry.and_then(|e| {
                    let path = e.path();
                    std::fs::symlink_metadata(&path).map(|m| (path, m))
                }) {
                    Ok((path, meta)) => stats.add(&path, &meta),
                    Err(err) => stats
                        .unknown
                        .push(format!("an entry of {}: {err}", root.display())),
                }
            }
        }
        Err(err) => stats.unknown.push(format!("{}: {err}", root.display())),
    }
    stats
        .owners
        .extend(inventory.archives.values().filter_map(|a| a.owner));
    stats
}

/// What the run learnt about the users of the cache.
#[derive(Debug, Default)]
pub struct Visibility {
    /// Roots of other users to search (`--all-users`).
    pub roots: Vec<RootSpec>,
    /// The users (or sets of users) of the cache this run cannot see, in words; empty
    /// when it sees them all.
    pub unseen: Vec<String>,
}

impl Visibility {
    /// The unseen users as one phrase for the evidence, or `None` when all are seen.
    pub fn summary(&self) -> Option<String> {
        if self.unseen.is_empty() {
            return None;
        }
        let mut text = self.unseen[..self.unseen.len().min(NAMED_MAX)].join(", ");
        if self.unseen.len() > NAMED_MAX {
            text += &format!(" and {} more", self.unseen.len() - NAMED_MAX);
        }
        Some(text)
    }

    /// The one line that says what is kept and how to prune it instead.
    pub fn warning(&self, cache: &Path) -> Option<String> {
        let unseen = self.summary()?;
        Some(format!(
            "the cache {} is shared with users whose venvs this run cannot see ({unseen}): \
             every archive is kept; to prune it, run as root with --all-users \
             (see docs/team-server.md in uv-cache-prune)",
            cache.display()
        ))
    }
}

/// The environment that says whom a run sees.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub euid: u32,
    pub home: Option<PathBuf>,
    pub sudo_uid: Option<OsString>,
    /// `--all-users`: search every user of the cache.
    pub all_users: bool,
}

impl Viewer {
    /// This process.
    pub fn current(all_users: bool) -> Self {
        Self {
            euid: effective_uid(),
            home: std::env::var_os("HOME")
                .filter(|h| !h.is_empty())
                .map(PathBuf::from),
            sudo_uid: std::env::var_os("SUDO_UID"),
            all_users,
        }
    }
}

/// Who uses the cache, who of them this run sees, and (with `--all-users`) the roots
/// that make the others seen.
pub fn visibility(cache: &CacheDir, inventory: &Inventory, viewer: &Viewer) -> Visibility {
    let stats = stats(cache, inventory);
    let mut db = Database::system();
    decide(&stats, viewer, &mut db, search_user)
}

/// The decision, over what was stated and the databases; `search` turns an account into
/// its roots, or why they cannot be searched.
fn decide(
    stats: &Stats,
    viewer: &Viewer,
    db: &mut Database,
    search: impl Fn(&Account) -> Result<Vec<RootSpec>, String>,
) -> Visibility {
    let mut seen = BTreeSet::from([viewer.euid]);
    if viewer.euid == 0 {
        seen.insert(0);
    }
    let mut visibility = Visibility {
        unseen: stats
            .unknown
            .iter()
            .map(|u| format!("the owner of {u}"))
            .collect(),
        ..Visibility::default()
    };
    if let Some(dir) = &stats.world_writable {
        visibility.unseen.push(format!(
            "every user, since others may write {} (make the cache group-writable instead)",
            dir.display()
        ));
    }
    let mut users = stats.owners.clone();
    // The databases are read only for a writing group or an owner other than the viewer:
    // a user's own cache with no shared group runs no command.
    for (gid, dir) in &stats.writing_groups {
        match db.members(*gid) {
            Ok(members) => users.extend(members),
            Err(why) => visibility.unseen.push(format!(
                "the members of group {gid}, which may write {} ({why})",
                dir.display()
            )),
        }
    }
    if users.is_subset(&seen) {
        return visibility;
    }
    if viewer.euid == 0
        && let Some(home) = &viewer.home
    {
        let sudo = viewer
            .sudo_uid
            .as_ref()
            .map(|s| s.to_str().and_then(|s| s.trim().parse::<u32>().ok()));
        let real = std::fs::canonicalize(home).ok();
        if let Ok(accounts) = db.accounts() {
            for account in accounts {
                let same = account.home == *home
                    || real.is_some() && std::fs::canonicalize(&account.home).ok() == real;
                // `SUDO_UID` set but not a number names nobody.
                if same && sudo.is_none_or(|uid| uid == Some(account.uid)) {
                    seen.insert(account.uid);
                }
            }
        }
    }
    for uid in users.difference(&seen).copied().collect::<Vec<_>>() {
        if viewer.all_users && viewer.euid == 0 {
            let account = db
                .accounts()
                .ok()
                .and_then(|all| all.iter().find(|a| a.uid == uid).cloned());
            let searched = match account {
                Some(account) => search(&account),
                None => Err("not in the password database".to_owned()),
            };
            match searched {
                Ok(roots) => {
                    visibility.roots.extend(roots);
                    continue;
                }
                Err(why) => {
                    let who = db.describe(uid);
                    visibility.unseen.push(format!("{who}: {why}"));
                    continue;
                }
            }
        }
        visibility.unseen.push(db.describe(uid));
    }
    visibility
}

/// One user's roots for `--all-users`: the home directory, uv's tool dir in it and the
/// roots that user registered; or why the user cannot be searched.
fn search_user(account: &Account) -> Result<Vec<RootSpec>, String> {
    let home = &account.home;
    if !home.is_absolute() || home.parent().is_none() {
        return Err(format!("no home directory to search ({})", home.display()));
    }
    // The home path is the administrator's (the password database); a symlink there is
    // theirs to make, so it is followed. Below it, nothing of the user's is.
    match std::fs::read_dir(home) {
        Ok(_) => {}
        Err(err) => return Err(format!("home {} cannot be read: {err}", home.display())),
    }
    let mut roots = vec![RootSpec {
        path: home.clone(),
        origin: RootOrigin::UserHome,
    }];
    let tools = home.join(".local/share/uv/tools");
    if real_dirs_below(home, &tools) {
        roots.push(RootSpec {
            path: tools,
            origin: RootOrigin::UserToolDir,
        });
    }
    let registered = read_registry(home, account.uid)?;
    roots.extend(registered.into_iter().map(|path| RootSpec {
        path,
        origin: RootOrigin::UserRegistered,
    }));
    Ok(roots)
}

/// Whether every component of `path` below `top` is a real directory (no symlink).
fn real_dirs_below(top: &Path, path: &Path) -> bool {
    let Ok(rel) = path.strip_prefix(top) else {
        return false;
    };
    let mut at = top.to_owned();
    rel.components().all(|c| {
        at.push(c);
        std::fs::symlink_metadata(&at).is_ok_and(|m| m.is_dir())
    })
}

/// The roots `uid` registered, from `<home>/.local/state/uv-cache-prune/roots.json`
/// (uv-cache-prune's default state dir; a user's own `$XDG_STATE_HOME` is not known to
/// root). Opened component by component without following a symlink, and believed only
/// when the directory and the file are that user's (the file may be root's) and not
/// writable by others: root must
/// not walk trees someone else slipped into a user's registry. No registry is no roots;
/// one that cannot be trusted or read, or a damaged one moved aside, leaves the user's
/// roots unknown.
fn read_registry(home: &Path, uid: u32) -> Result<Vec<PathBuf>, String> {
    let dir_path = home.join(".local/state/uv-cache-prune");
    let untrusted = |what: String| {
        format!(
            "{what}, so the roots {} lists are unknown",
            dir_path.join("roots.json").display()
        )
    };
    let dir_flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let mut fd = rustix::fs::open(
        home,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| format!("home {} cannot be opened: {e}", home.display()))?;
    let mut at = home.to_owned();
    for name in [".local", "state", "uv-cache-prune"] {
        at.push(name);
        match rustix::fs::openat(&fd, name, dir_flags, Mode::empty()) {
            Ok(next) => fd = next,
            Err(Errno::NOENT) => return Ok(Vec::new()),
            Err(err) => {
                return Err(untrusted(format!(
                    "{} cannot be opened as a directory without following a symlink ({err})",
                    at.display()
                )));
            }
        }
    }
    let trusted = |st: &rustix::fs::Stat| st.st_uid == uid && st.st_mode & 0o002 == 0;
    let st = rustix::fs::fstat(&fd).map_err(|e| untrusted(format!("{}: {e}", at.display())))?;
    if !trusted(&st) {
        return Err(untrusted(format!(
            "{} is not owned by uid {uid} or is writable by others",
            at.display()
        )));
    }
    let listing = rustix::fs::Dir::read_from(&fd)
        .map_err(|e| untrusted(format!("{} cannot be listed: {e}", at.display())))?;
    for entry in listing {
        let entry =
            entry.map_err(|e| untrusted(format!("{} cannot be listed: {e}", at.display())))?;
        if entry
            .file_name()
            .to_bytes()
            .starts_with(b"roots.json.corrupt-")
        {
            return Err(untrusted(format!(
                "a damaged registry was moved aside in {}",
                at.display()
            )));
        }
    }
    let file_flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
    let file = match rustix::fs::openat(&fd, "roots.json", file_flags, Mode::empty()) {
        Ok(file) => file,
        Err(Errno::NOENT) => return Ok(Vec::new()),
        Err(err) => {
            return Err(untrusted(format!(
                "it cannot be opened without following a symlink ({err})"
            )));
        }
    };
    let st = rustix::fs::fstat(&file).map_err(|e| untrusted(e.to_string()))?;
    let regular =
        rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::RegularFile;
    // A root-owned file here is one a `sudo -E` run wrote: in a directory that is the
    // user's, only the user and root can have put it, so it is as trusted as theirs.
    let owner_ok = st.st_uid == uid || st.st_uid == 0;
    if !regular || !owner_ok || st.st_mode & 0o002 != 0 {
        return Err(untrusted(format!(
            "it is not a regular file owned by uid {uid} (or root) and closed to others"
        )));
    }
    let mut bytes = Vec::new();
    std::fs::File::from(file)
        .take(REGISTRY_MAX + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| untrusted(format!("it cannot be read: {e}")))?;
    if bytes.len() as u64 > REGISTRY_MAX {
        return Err(untrusted(format!("it is larger than {REGISTRY_MAX} bytes")));
    }
    crate::state::parse_registry(&bytes).map_err(|e| untrusted(format!("it does not parse: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/bash\n\
        ann:x:1001:1001::/home/ann:/bin/sh\n\
        bob:x:1002:1002::/home/bob:/bin/sh\n\
        cy:x:1003:500::/home/cy:/bin/sh\n\
        broken line\n";
    const GROUP: &str =
        "root:x:0:\nann:x:1001:\nbob:x:1002:\nteam:x:500:ann,bob\nghosts:x:600:nobody-here\n";

    fn viewer(euid: u32) -> Viewer {
        Viewer {
            euid,
            home: None,
            sudo_uid: None,
            all_users: false,
        }
    }

    fn stats(owners: &[u32], groups: &[u32]) -> Stats {
        Stats {
            owners: owners.iter().copied().collect(),
            writing_groups: groups.iter().map(|g| (*g, PathBuf::from("/c"))).collect(),
            ..Stats::default()
        }
    }

    #[test]
    fn an_acl_names_the_users_and_groups_it_lets_write() {
        let entry = |tag: u16, perm: u16, id: u32| {
            let mut bytes = tag.to_le_bytes().to_vec();
            bytes.extend(perm.to_le_bytes());
            bytes.extend(id.to_le_bytes());
            bytes
        };
        let mut acl = 2u32.to_le_bytes().to_vec();
        acl.extend(entry(0x01, 7, u32::MAX)); // the owner
        acl.extend(entry(0x02, 7, 1002)); // bob may write
        acl.extend(entry(0x02, 5, 1003)); // cy may only read
        acl.extend(entry(0x04, 5, u32::MAX)); // the owning group
        acl.extend(entry(0x08, 6, 500)); // the team may write
        acl.extend(entry(0x10, 7, u32::MAX)); // the mask
        acl.extend(entry(0x20, 5, u32::MAX)); // others
        assert_eq!(
            acl_writers(&acl),
            Some(AclWriters {
                users: vec![1002],
                groups: vec![500]
            })
        );
        assert_eq!(acl_writers(&acl[..acl.len() - 1]), None);
        assert_eq!(acl_writers(&[1, 0, 0, 0]), None);
        assert_eq!(acl_writers(&[]), None);
    }

    fn unseen(stats: &Stats, viewer: &Viewer) -> Vec<String> {
        let mut db = Database::fixed(PASSWD, GROUP);
        decide(stats, viewer, &mut db, |_| Err("no".into())).unseen
    }

    #[test]
    fn a_private_group_is_not_sharing() {
        assert!(unseen(&stats(&[1001], &[1001]), &viewer(1001)).is_empty());
    }

    #[test]
    fn a_team_group_names_every_member_and_primary_user() {
        assert_eq!(
            unseen(&stats(&[1001], &[500]), &viewer(1001)),
            ["bob (uid 1002)", "cy (uid 1003)"]
        );
    }

    #[test]
    fn owners_count_and_unknown_groups_are_unseen() {
        assert_eq!(
            unseen(&stats(&[1001, 1002, 4242], &[]), &viewer(1001)),
            ["bob (uid 1002)", "uid 4242"]
        );
        let ghosts = unseen(&stats(&[1001], &[600, 777]), &viewer(1001));
        assert_eq!(ghosts.len(), 2, "{ghosts:?}");
        assert!(ghosts[0].contains("lists nobody-here"), "{ghosts:?}");
        assert!(ghosts[1].contains("group 777 is not in the group database"));
    }

    #[test]
    fn root_sees_the_home_user_only_when_sudo_uid_agrees() {
        let owners = stats(&[1001], &[]);
        let mut root = viewer(0);
        root.home = Some(PathBuf::from("/home/ann"));
        assert!(unseen(&owners, &root).is_empty());
        root.sudo_uid = Some("1001".into());
        assert!(unseen(&owners, &root).is_empty());
        root.sudo_uid = Some("1002".into());
        assert_eq!(unseen(&owners, &root), ["ann (uid 1001)"]);
        root.sudo_uid = Some("junk".into());
        assert_eq!(unseen(&owners, &root), ["ann (uid 1001)"]);
    }

    #[test]
    fn all_users_searches_each_unseen_user_or_says_why_not() {
        let mut root = viewer(0);
        root.all_users = true;
        let mut db = Database::fixed(PASSWD, GROUP);
        let found = decide(&stats(&[1001, 1002], &[]), &root, &mut db, |a| {
            if a.name == "ann" {
                Ok(vec![RootSpec {
                    path: a.home.clone(),
                    origin: RootOrigin::UserHome,
                }])
            } else {
                Err("home /home/bob cannot be read".into())
            }
        });
        assert_eq!(found.roots.len(), 1);
        assert_eq!(
            found.unseen,
            ["bob (uid 1002): home /home/bob cannot be read"]
        );
        // Not root: --all-users searches nobody (the command line refuses it anyway).
        let mut ann = viewer(1001);
        ann.all_users = true;
        assert_eq!(unseen(&stats(&[1001, 1002], &[]), &ann), ["bob (uid 1002)"]);
    }

    #[test]
    fn world_writable_is_never_seen_whole() {
        let mut open = stats(&[0], &[]);
        open.world_writable = Some(PathBuf::from("/c"));
        let mut root = viewer(0);
        root.all_users = true;
        let found = unseen(&open, &root);
        assert_eq!(found.len(), 1);
        assert!(found[0].starts_with("every user"), "{found:?}");
    }

    #[test]
    fn a_registry_behind_a_symlink_or_owned_by_another_is_not_read() {
        let home = tempfile::tempdir().unwrap();
        let me = effective_uid();
        assert_eq!(read_registry(home.path(), me), Ok(Vec::new()));
        let real = home.path().join("elsewhere");
        std::fs::create_dir_all(&real).unwrap();
        std::fs::write(real.join("roots.json"), br#"{"version":1,"roots":["/x"]}"#).unwrap();
        std::fs::create_dir_all(home.path().join(".local/state")).unwrap();
        std::os::unix::fs::symlink(&real, home.path().join(".local/state/uv-cache-prune")).unwrap();
        assert!(read_registry(home.path(), me).is_err());
        std::fs::remove_file(home.path().join(".local/state/uv-cache-prune")).unwrap();
        std::fs::rename(&real, home.path().join(".local/state/uv-cache-prune")).unwrap();
        assert_eq!(
            read_registry(home.path(), me),
            Ok(vec![PathBuf::from("/x")])
        );
        assert!(read_registry(home.path(), me + 1).is_err());
    }
}
