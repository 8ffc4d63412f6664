//! What a prune frees beyond `archive-v0`, bucket by bucket, under the same rules as an
//! archive (uv's exclusive lock, renamed whole into a `.tmp*` name first, then deleted by
//! descriptor, any doubt keeps): interrupted downloads and builds and orphaned `files-v0`
//! objects (`leftovers`), built source distributions nothing needs (`sdists`), cached
//! environments not used for `--unused-for` (`environments`), and index pages of packages
//! the cache no longer holds (`index_pages`).

pub(crate) mod environments;
pub(crate) mod index_pages;
pub(crate) mod leftovers;
pub(crate) mod sdists;
