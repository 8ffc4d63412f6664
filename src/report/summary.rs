//! The one line `--hook` appends to the hook log: when, which cache, what went.

use super::text::{count, safe_path};
use super::{Report, Status};
use crate::units::human_bytes;

impl Report {
    /// The one line `--hook` appends to the hook log.
    pub fn to_summary_line(&self, now: std::time::SystemTime) -> String {
        let when = crate::state::rfc3339(now);
        let what = match self.status {
            Status::NoCache => "no uv cache yet, nothing to do".to_owned(),
            Status::NoArchives => "no archives in the uv cache yet, nothing to do".to_owned(),
            Status::Busy => "uv is using the cache, skipped".to_owned(),
            Status::Ok => format!(
                "removed {} and {}, {} freed; {} kept{}",
                count(self.removed_archives.unwrap_or(0), "archive"),
                count(self.removed_pointers.unwrap_or(0), "pointer"),
                human_bytes(self.removed_bytes.unwrap_or(0)),
                count(self.archives.live, "archive"),
                self.incomplete
                    .as_ref()
                    .map_or(String::new(), |incomplete| format!(
                        ", {} of them for lack of permission: {}",
                        incomplete.kept_archives,
                        super::text::safe(&incomplete.what_to_do.join("; "))
                    ))
            ),
        };
        format!(
            "{when} uv-cache-prune --hook {}: {what}\n",
            safe_path(&self.cache_dir)
        )
    }
}
