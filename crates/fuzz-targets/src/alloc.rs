//! A global allocator that counts, per thread, the allocations and the peak of live bytes, so
//! that a target can assert what a parser allocates. The fuzz binaries and the corpus tests
//! install it; without it [`measure`] reports nothing.
//!
//! Memory allocated by C code (zstd's decoder context) does not go through it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};

/// The counting allocator: [`System`] underneath.
pub struct CountingAllocator;

static INSTALLED: AtomicBool = AtomicBool::new(false);

thread_local! {
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
    static COUNT: Cell<usize> = const { Cell::new(0) };
}

fn grow(n: usize) {
    let _ = LIVE.try_with(|live| {
        let v = live.get().saturating_add(n);
        live.set(v);
        let _ = PEAK.try_with(|p| p.set(p.get().max(v)));
    });
    let _ = COUNT.try_with(|c| c.set(c.get() + 1));
}

fn shrink(n: usize) {
    let _ = LIVE.try_with(|live| live.set(live.get().saturating_sub(n)));
}

// SAFETY: every call is forwarded to `System` unchanged; the bookkeeping touches only
// thread-local cells that need no allocation.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        INSTALLED.store(true, Ordering::Relaxed);
        // SAFETY: the caller's contract for `alloc` is passed on unchanged.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grow(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        INSTALLED.store(true, Ordering::Relaxed);
        // SAFETY: the caller's contract for `alloc_zeroed` is passed on unchanged.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grow(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` and `layout` come from this allocator, which is `System`'s.
        unsafe { System.dealloc(ptr, layout) };
        shrink(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as for `dealloc`; `new_size` is the caller's, under its contract.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            shrink(layout.size());
            grow(new_size);
        }
        p
    }
}

/// What a closure allocated on its thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// Number of allocations (reallocations included).
    pub allocations: usize,
    /// Highest number of live bytes above what was live when it started.
    pub peak_bytes: usize,
}

/// Runs `f` and reports what it allocated, when [`CountingAllocator`] is the global allocator.
pub fn measure<T>(f: impl FnOnce() -> T) -> (T, Option<Usage>) {
    let base = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(base));
    let count = COUNT.with(Cell::get);
    let out = f();
    let usage = Usage {
        allocations: COUNT.with(Cell::get) - count,
        peak_bytes: PEAK.with(Cell::get).saturating_sub(base),
    };
    (out, INSTALLED.load(Ordering::Relaxed).then_some(usage))
}
