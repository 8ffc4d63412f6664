//! Which filesystems are mounted where, and which of them discovery may walk.
//!
//! Discovery searches every local filesystem mounted under a root: a venv on a second
//! disk, a tmpfs or a btrfs subvolume is as live as one next to it, and a walk that stayed
//! on one device missed it silently. But it never walks a network or FUSE filesystem: a
//! stalled NFS server or a dead `sshfs` daemon makes every `stat` under it block, and a
//! git hook must not hang on that. Such a mount is *not searched*, and the report says so.
//! Deletion never crosses a device either way; that rule lives in the apply stage.
//!
//! The table comes from `/proc/self/mountinfo` (Linux). Where it cannot be read, the
//! caller falls back to walking one filesystem per root, as before.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// What a filesystem type means for discovery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum MountClass {
    /// Disk or memory backed, answered by the local kernel: walked.
    Local,
    /// Served over the network (NFS, SMB, Ceph, ...) or by an automounter that may mount
    /// one on first access: a stat can block for minutes. Not searched.
    Network,
    /// Served by a user-space daemon (`fuse.*`): it can hang or lie. Not searched.
    Fuse,
    /// A kernel interface (`proc`, `sysfs`, cgroups, ...): never holds a venv. Skipped
    /// without a word.
    Pseudo,
    /// A type we do not know: not searched, since we cannot tell whether walking it is
    /// safe, and the report names it so a user can see why.
    Unknown,
}

impl MountClass {
    /// Classifies a filesystem type as `/proc/self/mountinfo` spells it (`ext4`, `nfs4`,
    /// `fuse.sshfs`).
    pub fn of(fstype: &str) -> MountClass {
        const LOCAL: &[&str] = &[
            "ext2", "ext3", "ext4", "xfs", "btrfs", "zfs", "f2fs", "bcachefs", "jfs", "reiserfs",
            "nilfs2", "tmpfs", "ramfs", "overlay", "vfat", "msdos", "exfat", "ntfs", "ntfs3",
            "hfs", "hfsplus", "apfs", "squashfs", "erofs", "iso9660", "udf", "ecryptfs",
        ];
        const NETWORK: &[&str] = &[
            "nfs",
            "nfs4",
            "cifs",
            "smb3",
            "smbfs",
            "ncpfs",
            "afs",
            "coda",
            "ceph",
            "glusterfs",
            "lustre",
            "gpfs",
            "beegfs",
            "orangefs",
            "ocfs2",
            "gfs2",
            "9p",
            "virtiofs",
            "vboxsf",
            "davfs",
            "autofs",
            "rpc_pipefs",
        ];
        const PSEUDO: &[&str] = &[
            "proc",
            "sysfs",
            "devtmpfs",
            "devpts",
            "cgroup",
            "cgroup2",
            "debugfs",
            "tracefs",
            "securityfs",
            "pstore",
            "bpf",
            "configfs",
            "fusectl",
            "mqueue",
            "hugetlbfs",
            "binfmt_misc",
            "efivarfs",
            "nsfs",
            "selinuxfs",
        ];
        if fstype == "fuse" || fstype == "fuseblk" || fstype.starts_with("fuse.") {
            MountClass::Fuse
        } else if LOCAL.contains(&fstype) {
            MountClass::Local
        } else if NETWORK.contains(&fstype) {
            MountClass::Network
        } else if PSEUDO.contains(&fstype) {
            MountClass::Pseudo
        } else {
            MountClass::Unknown
        }
    }

    /// A few words for messages.
    pub fn describe(self) -> &'static str {
        match self {
            MountClass::Local => "local",
            MountClass::Network => "network",
            MountClass::Fuse => "FUSE",
            MountClass::Pseudo => "kernel",
            MountClass::Unknown => "unknown-type",
        }
    }

    /// Whether discovery may walk a filesystem of this class.
    pub fn is_searched(self) -> bool {
        self == MountClass::Local
    }
}

/// One mount: where, and of which type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub point: PathBuf,
    pub fstype: String,
    pub class: MountClass,
}

/// Every mount of this process's namespace, by mount point.
#[derive(Debug, Clone, Default)]
pub struct MountTable {
    by_point: HashMap<PathBuf, Mount>,
}

/// The most `/proc/self/mountinfo` can need: tens of thousands of mounts in a busy
/// container host. Beyond that we fall back rather than hold it all.
const MOUNTINFO_MAX: u64 = 16 << 20;

impl MountTable {
    /// This process's mounts, or why they cannot be known.
    pub fn current() -> Result<MountTable, String> {
        let path = Path::new("/proc/self/mountinfo");
        let text = crate::sys::read::read_regular_text(path, MOUNTINFO_MAX)
            .map_err(|err| format!("cannot read {}: {err}", path.display()))?;
        Ok(MountTable::parse(&text))
    }

    /// Parses mountinfo text; lines that do not parse are left out. A mount point listed
    /// twice is over-mounted: the later line is what a walk sees there.
    pub fn parse(text: &str) -> MountTable {
        let by_point = text
            .lines()
            .filter_map(parse_line)
            .map(|mount| (mount.point.clone(), mount))
            .collect();
        MountTable { by_point }
    }

    /// Whether something is mounted at `point` (as mountinfo spells it).
    pub fn is_mounted(&self, point: &Path) -> bool {
        self.by_point.contains_key(point)
    }

    /// The mount `path` (a canonical path) lives on: the one with the longest mount point
    /// that contains it.
    pub fn containing(&self, path: &Path) -> Option<&Mount> {
        path.ancestors().find_map(|a| self.by_point.get(a))
    }

    /// Every mount strictly below `root` (a canonical path), re-expressed under `walked`,
    /// the spelling of `root` the walk uses, so the walk can look its paths up directly.
    pub fn under(&self, root: &Path, walked: &Path) -> HashMap<PathBuf, Mount> {
        self.by_point
            .values()
            .filter_map(|mount| {
                let rel = mount.point.strip_prefix(root).ok()?;
                (!rel.as_os_str().is_empty()).then(|| (walked.join(rel), mount.clone()))
            })
            .collect()
    }
}

/// `36 35 98:0 /mnt1 /mnt/point rw,noatime master:1 - ext3 /dev/root rw`: the mount point
/// is field 5, the type is the first field after the `-` separator.
fn parse_line(line: &str) -> Option<Mount> {
    let mut fields = line.split(' ');
    let point = fields.nth(4)?;
    let fstype = fields.skip_while(|f| *f != "-").nth(1)?;
    let point = PathBuf::from(unescape(point));
    point.is_absolute().then(|| Mount {
        point,
        class: MountClass::of(fstype),
        fstype: fstype.to_owned(),
    })
}

/// The kernel writes space, tab, newline and backslash in a path as `\ooo` octal.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).filter(|d| {
            bytes[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)) && d[0] <= b'3'
        });
        match octal {
            Some(d) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines as Linux writes them, from real machines.
    const MOUNTINFO: &str = "\
22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 252:0 / / rw,relatime - ext4 /dev/vda rw
25 24 0:23 / /dev/shm rw,relatime - tmpfs tmpfs rw,size=24731708k
40 27 0:45 / /home/ann/nfs rw,relatime shared:30 - nfs 10.0.0.2:/export rw,vers=3,addr=10.0.0.2
41 27 0:46 / /home/ann/work rw,relatime shared:31 - nfs4 fs1:/work rw,vers=4.2,addr=10.0.0.3
42 27 0:47 / /home/ann/share rw,relatime - cifs //nas/share rw,vers=3.1.1,addr=10.0.0.4
43 27 0:48 / /home/ann/remote rw,nosuid,nodev,relatime - fuse.sshfs ann@host: rw,user_id=1000
44 27 0:49 / /home/ann/My\\040Drive rw,nosuid,nodev - fuse.rclone gdrive: rw,user_id=1000
45 27 8:17 / /home/ann/usb rw,nosuid,nodev - fuseblk /dev/sdb1 rw,user_id=0
46 27 0:50 / /home/ann/proj/auto rw,relatime - autofs systemd-1 rw,fd=51
47 27 259:3 /@home /home/ann/disk rw,relatime - btrfs /dev/nvme0n1p3 rw,subvolid=257
48 27 0:51 / /home/ann/odd rw - somefs none rw
";

    fn class_at(table: &MountTable, point: &str) -> MountClass {
        table.by_point[Path::new(point)].class
    }

    #[test]
    fn network_and_fuse_mounts_are_not_searched_local_ones_are() {
        let table = MountTable::parse(MOUNTINFO);
        assert_eq!(class_at(&table, "/home/ann/nfs"), MountClass::Network);
        assert_eq!(class_at(&table, "/home/ann/work"), MountClass::Network);
        assert_eq!(class_at(&table, "/home/ann/share"), MountClass::Network);
        assert_eq!(class_at(&table, "/home/ann/proj/auto"), MountClass::Network);
        assert_eq!(class_at(&table, "/home/ann/remote"), MountClass::Fuse);
        assert_eq!(class_at(&table, "/home/ann/My Drive"), MountClass::Fuse);
        assert_eq!(class_at(&table, "/home/ann/usb"), MountClass::Fuse);
        assert_eq!(class_at(&table, "/home/ann/disk"), MountClass::Local);
        assert_eq!(class_at(&table, "/dev/shm"), MountClass::Local);
        assert_eq!(class_at(&table, "/"), MountClass::Local);
        assert_eq!(class_at(&table, "/proc"), MountClass::Pseudo);
        assert_eq!(class_at(&table, "/home/ann/odd"), MountClass::Unknown);
        for point in [
            "/home/ann/nfs",
            "/home/ann/remote",
            "/home/ann/odd",
            "/proc",
        ] {
            assert!(!table.by_point[Path::new(point)].class.is_searched());
        }
        assert_eq!(
            table.by_point[Path::new("/home/ann/remote")].fstype,
            "fuse.sshfs"
        );
    }

    #[test]
    fn mounts_under_a_root_are_spelled_as_the_walk_sees_them() {
        let table = MountTable::parse(MOUNTINFO);
        let under = table.under(Path::new("/home/ann"), Path::new("/link/to/ann"));
        assert!(under.contains_key(Path::new("/link/to/ann/nfs")));
        assert!(under.contains_key(Path::new("/link/to/ann/My Drive")));
        assert!(!under.keys().any(|p| p == Path::new("/link/to/ann")));
        assert!(!under.values().any(|m| m.point == Path::new("/proc")));
        assert_eq!(under.len(), 9);
    }

    #[test]
    fn the_later_of_two_mounts_on_one_point_wins_and_garbage_is_skipped() {
        let table = MountTable::parse(
            "1 0 0:1 / /m rw - nfs4 a:/b rw\n\
             2 0 0:2 / /m rw - tmpfs tmpfs rw\n\
             not a mountinfo line\n\
             3 0 0:3 / relative rw - ext4 x rw\n\
             \\777 \\\n",
        );
        assert_eq!(table.by_point.len(), 1);
        assert_eq!(class_at(&table, "/m"), MountClass::Local);
    }
}
