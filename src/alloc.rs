//! The daemon's allocator: mimalloc, entered the way each request needs.
//!
//! The `mimalloc` crate's `GlobalAlloc` sends every request to `mi_malloc_aligned`, whatever
//! its alignment. For a request over 1 KiB that is not a power of two, mimalloc 3 then cannot
//! take its fast path and over-allocates by the alignment (a larger size class, and a page
//! marked as holding interior pointers, which makes every free on it slower): 24 such
//! requests per Events v2 alert (hyper's and serde's buffers), by callgrind. Like Rust's
//! `System` allocator, requests whose alignment mimalloc gives anyway (16 bytes, or the size
//! when that is smaller) go to plain `mi_malloc`; only over-aligned ones (tokio's
//! cache-padded task cells) take the aligned entry.
//!
//! With the `override` feature SQLite's C allocations are mimalloc's too.

use std::alloc::{GlobalAlloc, Layout};
use std::ffi::c_void;

use libmimalloc_sys as mi;

/// What `mi_malloc` aligns every block to, at least (`MI_MAX_ALIGN_SIZE`) — or, for a block
/// smaller than this, to a power of two no larger than its size.
const MIN_ALIGN: usize = 16;

pub struct Mimalloc;

/// Whether `mi_malloc(size)` is aligned enough for `align`.
#[inline]
fn plain(align: usize, size: usize) -> bool {
    align <= MIN_ALIGN && align <= size
}

// SAFETY: every block comes from mimalloc and goes back to it (`mi_free` takes either kind);
// a plain block is used only where mimalloc's own alignment covers the layout's.
unsafe impl GlobalAlloc for Mimalloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        unsafe {
            if plain(layout.align(), layout.size()) {
                mi::mi_malloc(layout.size()) as *mut u8
            } else {
                mi::mi_malloc_aligned(layout.size(), layout.align()) as *mut u8
            }
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        unsafe {
            if plain(layout.align(), layout.size()) {
                mi::mi_zalloc(layout.size()) as *mut u8
            } else {
                mi::mi_zalloc_aligned(layout.size(), layout.align()) as *mut u8
            }
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        unsafe { mi::mi_free(ptr as *mut c_void) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        unsafe {
            if plain(layout.align(), new_size) {
                mi::mi_realloc(ptr as *mut c_void, new_size) as *mut u8
            } else {
                mi::mi_realloc_aligned(ptr as *mut c_void, new_size, layout.align()) as *mut u8
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::alloc::{GlobalAlloc, Layout};

    use super::Mimalloc;

    /// Every layout gets a block at its alignment that holds its size, through alloc, zeroed
    /// alloc and realloc (growing and shrinking, across the 1 KiB line and the plain/aligned
    /// line), and realloc keeps the contents.
    #[test]
    fn blocks_are_aligned_and_hold_their_size() {
        let sizes = [1, 3, 8, 12, 16, 24, 100, 1000, 1024, 1025, 4097, 70_000];
        let aligns = [1, 2, 4, 8, 16, 32, 64, 128, 4096];
        let filled = |p: *const u8, n: usize, b: u8| unsafe {
            std::slice::from_raw_parts(p, n).iter().all(|&x| x == b)
        };
        for &size in &sizes {
            for &align in &aligns {
                let layout = Layout::from_size_align(size, align).unwrap();
                unsafe {
                    let p = Mimalloc.alloc(layout);
                    assert!(!p.is_null());
                    assert_eq!(p as usize % align, 0, "alloc {size} @ {align}");
                    p.write_bytes(0xA5, size);
                    Mimalloc.dealloc(p, layout);

                    let z = Mimalloc.alloc_zeroed(layout);
                    assert_eq!(z as usize % align, 0, "zeroed {size} @ {align}");
                    assert!(filled(z, size, 0), "zeroed {size} @ {align}");
                    Mimalloc.dealloc(z, layout);

                    for new_size in [1, size / 2 + 1, size * 3, 5000] {
                        let p = Mimalloc.alloc(layout);
                        p.write_bytes(0x5A, size);
                        let r = Mimalloc.realloc(p, layout, new_size);
                        assert_eq!(
                            r as usize % align,
                            0,
                            "realloc {size}->{new_size} @ {align}"
                        );
                        let kept = size.min(new_size);
                        assert!(
                            filled(r, kept, 0x5A),
                            "realloc {size}->{new_size} @ {align}"
                        );
                        Mimalloc.dealloc(r, Layout::from_size_align(new_size, align).unwrap());
                    }
                }
            }
        }
    }
}
