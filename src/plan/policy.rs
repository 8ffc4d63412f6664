//! The policies, as pure functions of measured facts: no disk, no clock but the one
//! given, so that each rule has unit tests of its own. Liveness always wins: a policy
//! only ever chooses among dead archives, and holding one back is evidence
//! (`keep`, `grace`, `recently-used`, `within-size`) that the report names with the flag
//! that releases it.

use std::time::{Duration, SystemTime};

use crate::cache::archive_id::ArchiveId;
use crate::cache::dist::PackageName;
use crate::evidence::Evidence;
use crate::plan::Policy;

/// What the per-archive policies look at.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    /// Its package, when it is a wheel.
    pub package: Option<&'a PackageName>,
    /// When uv unpacked it.
    pub created: Option<SystemTime>,
    /// The latest sign of use (creation, a hardlink's ctime, our own record).
    pub last_use: Option<SystemTime>,
}

/// What the keep list, the grace window and `--unused-for` hold back, in that order.
/// A time unknown or in the future counts as just now: it holds.
pub fn holds(facts: Facts<'_>, policy: &Policy, now: SystemTime) -> Vec<Evidence> {
    let mut held = Vec::new();
    if let Some(package) = facts.package
        && policy.keep.contains(package)
    {
        held.push(Evidence::KeepList {
            package: package.clone(),
        });
    }
    let since = |time: Option<SystemTime>| {
        time.and_then(|t| now.duration_since(t).ok())
            .unwrap_or(Duration::ZERO)
    };
    let age = since(facts.created);
    if age < policy.grace {
        held.push(Evidence::Grace { age });
    }
    if let Some(unused_for) = policy.unused_for {
        let ago = since(facts.last_use);
        if ago < unused_for {
            held.push(Evidence::RecentlyUsed { ago });
        }
    }
    held
}

/// `--max-size`: which dead archives to spare so that the cache (`cache_bytes` now) comes
/// within `max_size`, removing the least recently used first. `candidates` are in that
/// order; `bytes` says what removing one more frees (given those before it go too).
/// Returns the spared and the bytes that remain after the removals.
pub fn fit<'a>(
    max_size: u64,
    cache_bytes: u64,
    candidates: impl IntoIterator<Item = &'a ArchiveId>,
    mut bytes: impl FnMut(&ArchiveId) -> u64,
) -> (Vec<ArchiveId>, u64) {
    let mut remaining = cache_bytes;
    let mut spared = Vec::new();
    for id in candidates {
        if remaining <= max_size {
            spared.push(id.clone());
        } else {
            remaining -= bytes(id).min(remaining);
        }
    }
    (spared, remaining)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    fn now() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
    }

    fn policy() -> Policy {
        Policy {
            grace: HOUR,
            ..Policy::default()
        }
    }

    fn facts(created_ago: Duration, used_ago: Duration) -> Facts<'static> {
        Facts {
            package: None,
            created: Some(now() - created_ago),
            last_use: Some(now() - used_ago),
        }
    }

    fn id(name: &str) -> ArchiveId {
        ArchiveId::new(name).unwrap()
    }

    #[test]
    fn grace_holds_only_what_is_younger_than_the_window() {
        let young = holds(facts(HOUR / 2, HOUR / 2), &policy(), now());
        assert_eq!(young, vec![Evidence::Grace { age: HOUR / 2 }]);
        assert!(holds(facts(HOUR, HOUR), &policy(), now()).is_empty());
    }

    #[test]
    fn a_time_unknown_or_in_the_future_counts_as_now() {
        let future = Facts {
            package: None,
            created: Some(now() + HOUR),
            last_use: None,
        };
        let unknown = Facts {
            created: None,
            ..future
        };
        let with_unused_for = Policy {
            unused_for: Some(HOUR),
            ..policy()
        };
        for facts in [future, unknown] {
            assert_eq!(
                holds(facts, &with_unused_for, now()),
                vec![
                    Evidence::Grace {
                        age: Duration::ZERO
                    },
                    Evidence::RecentlyUsed {
                        ago: Duration::ZERO
                    }
                ]
            );
        }
    }

    #[test]
    fn unused_for_looks_at_the_last_use_not_the_creation() {
        let policy = Policy {
            unused_for: Some(30 * 24 * HOUR),
            ..policy()
        };
        let old_but_used = facts(90 * 24 * HOUR, 24 * HOUR);
        assert_eq!(
            holds(old_but_used, &policy, now()),
            vec![Evidence::RecentlyUsed { ago: 24 * HOUR }]
        );
        let unused = facts(90 * 24 * HOUR, 60 * 24 * HOUR);
        assert!(holds(unused, &policy, now()).is_empty());
    }

    #[test]
    fn the_keep_list_names_the_package_and_comes_first() {
        let name = PackageName::new("Babel");
        let policy = Policy {
            keep: vec![PackageName::new("babel")],
            ..policy()
        };
        let facts = Facts {
            package: Some(&name),
            ..facts(HOUR / 4, HOUR / 4)
        };
        let held = holds(facts, &policy, now());
        assert_eq!(held.len(), 2);
        assert!(matches!(&held[0], Evidence::KeepList { package } if *package == name));
        assert!(matches!(held[1], Evidence::Grace { .. }));
    }

    #[test]
    fn fit_removes_the_least_recently_used_until_the_cache_fits() {
        let ids = [id("oldest"), id("older"), id("newer"), id("newest")];
        let size = |id: &ArchiveId| match id.as_str() {
            "oldest" => 40,
            "older" => 30,
            _ => 25,
        };
        // 150 bytes, 80 allowed: the two oldest go (70), then it fits.
        let (spared, remaining) = fit(80, 150, &ids, size);
        assert_eq!(spared, vec![id("newer"), id("newest")]);
        assert_eq!(remaining, 80);
        // Already within: nothing goes.
        let (spared, remaining) = fit(200, 150, &ids, size);
        assert_eq!(spared.len(), 4);
        assert_eq!(remaining, 150);
        // Not even removing everything is enough: what remains says by how much.
        let (spared, remaining) = fit(10, 150, &ids, size);
        assert!(spared.is_empty());
        assert_eq!(remaining, 30);
    }

    #[test]
    fn fit_never_counts_below_zero() {
        // The first removal frees more than is counted (shared inodes counted before):
        // the cache is at zero, so the next is spared.
        let ids = [id("a"), id("b")];
        let (spared, remaining) = fit(0, 10, &ids, |_| 1_000);
        assert_eq!(spared, vec![id("b")]);
        assert_eq!(remaining, 0);
    }
}
