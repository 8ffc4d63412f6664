//! uv's cache as it is on disk, read only: where it is and that it is one (`locate`), the
//! names of its buckets (`layout`), its archives and the pointers naming them
//! (`inventory`, `pointer`, `archive_id`), the content-addressed object store (`objects`),
//! and the names of the distributions it holds (`dist`). Nothing here changes the cache:
//! deleting is `apply`'s, and only under uv's lock.

pub mod archive_id;
pub(crate) mod dist;
pub(crate) mod inventory;
pub(crate) mod layout;
pub(crate) mod locate;
pub(crate) mod objects;
pub mod pointer;
