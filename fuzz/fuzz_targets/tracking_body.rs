#![no_main]

#[global_allocator]
static ALLOC: cairn_fuzz_targets::alloc::CountingAllocator =
    cairn_fuzz_targets::alloc::CountingAllocator;

libfuzzer_sys::fuzz_target!(|data: &[u8]| cairn_fuzz_targets::tracking_body(data));
