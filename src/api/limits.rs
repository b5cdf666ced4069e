//! Size limits every edge enforces alike (gRPC requests, Events v2 bodies, Alertmanager
//! summaries), so an alert is refused or cut the same way whichever way it came in.

pub const MAX_SUMMARY_CHARS: usize = 1024;
pub const MAX_DEDUP_KEY_BYTES: usize = 255;
pub const MAX_DETAILS_BYTES: usize = 64 * 1024;
pub const MAX_SOURCE_BYTES: usize = 255;
pub const MAX_LINKS: usize = 32;
pub const MAX_ACTOR_BYTES: usize = 128;
pub const MAX_NOTE_BYTES: usize = 4096;
pub const DEFAULT_PAGE_SIZE: u32 = 50;
pub const MAX_PAGE_SIZE: u32 = 500;
