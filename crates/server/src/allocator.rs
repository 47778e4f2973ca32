//! The binary's allocator: mimalloc for everything up to [`LARGE_ALLOCATION_BYTES`], and the
//! kernel's anonymous mappings for anything larger (request bodies, answers, big item values),
//! so that memory freed after a burst of large requests goes back to the system at once.
//!
//! mimalloc keeps freed memory for reuse and purges it lazily (a delay, then only when the
//! allocator next runs on that thread): after 100 uploads of 15 MB the server stayed at its peak
//! for as long as it was idle. Large buffers are few per request, so a `mmap`/`munmap` each
//! costs little next to filling them, and small allocations keep mimalloc's speed.
//!
//! The size class of a block follows from its layout alone (which `dealloc` and `realloc` are
//! given), so every block is freed by the allocator that made it.

use std::alloc::{GlobalAlloc, Layout};

/// Blocks of at least this many bytes are mapped directly (glibc's default mmap threshold).
pub const LARGE_ALLOCATION_BYTES: usize = 128 * 1024;

/// Largest alignment a mapping is known to have: the page size on every platform Flywheel runs.
const PAGE_BYTES: usize = 4096;

/// mimalloc, with large blocks mapped directly.
pub struct Allocator;

fn is_large(layout: &Layout) -> bool {
    layout.size() >= LARGE_ALLOCATION_BYTES && layout.align() <= PAGE_BYTES
}

/// A fresh anonymous mapping (zero-filled, so it serves `alloc_zeroed` too).
unsafe fn map(size: usize) -> *mut u8 {
    // SAFETY: a fresh private anonymous mapping touches no existing memory.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            size,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        std::ptr::null_mut()
    } else {
        p.cast()
    }
}

unsafe impl GlobalAlloc for Allocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if is_large(&layout) {
            // SAFETY: see `map`.
            unsafe { map(layout.size()) }
        } else {
            // SAFETY: the caller upholds `GlobalAlloc`'s contract, which mimalloc's shares.
            unsafe { mimalloc::MiMalloc.alloc(layout) }
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if is_large(&layout) {
            // SAFETY: see `map`.
            unsafe { map(layout.size()) }
        } else {
            // SAFETY: as in `alloc`.
            unsafe { mimalloc::MiMalloc.alloc_zeroed(layout) }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if is_large(&layout) {
            // SAFETY: `ptr` came from `map` with this size (the layout decides the class).
            unsafe { libc::munmap(ptr.cast(), layout.size()) };
        } else {
            // SAFETY: `ptr` came from mimalloc with this layout.
            unsafe { mimalloc::MiMalloc.dealloc(ptr, layout) }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees a valid size and alignment for the new layout.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        if !is_large(&layout) && !is_large(&new_layout) {
            // SAFETY: both blocks are mimalloc's.
            return unsafe { mimalloc::MiMalloc.realloc(ptr, layout, new_size) };
        }
        // SAFETY: a new block of the new class, the old bytes copied, the old block freed by
        // its own class.
        unsafe {
            let new = self.alloc(new_layout);
            if !new.is_null() {
                std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
            new
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_of_both_classes_grow_shrink_and_keep_their_bytes() {
        let a = Allocator;
        for (from, to) in [(100, 200_000), (200_000, 100), (200_000, 3_000_000), (1_000, 2_000), (300_000, 300_000)] {
            unsafe {
                let layout = Layout::from_size_align(from, 8).unwrap();
                let p = a.alloc(layout);
                assert!(!p.is_null());
                for i in 0..from {
                    *p.add(i) = (i % 251) as u8;
                }
                let q = a.realloc(p, layout, to);
                assert!(!q.is_null());
                for i in 0..from.min(to) {
                    assert_eq!(*q.add(i), (i % 251) as u8, "{from} -> {to} at {i}");
                }
                a.dealloc(q, Layout::from_size_align(to, 8).unwrap());
            }
        }
        unsafe {
            let layout = Layout::from_size_align(1 << 20, 64).unwrap();
            let z = a.alloc_zeroed(layout);
            assert!((0..1 << 20).all(|i| *z.add(i) == 0));
            a.dealloc(z, layout);
        }
    }
}
