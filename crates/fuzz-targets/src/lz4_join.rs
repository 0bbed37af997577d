//! Joining stored LZ4 blocks (`cairn_proto::lz4`): the end-rule check, the sequence walk, and
//! the joiner over blocks, positions and stored payloads.

use cairn_proto::lz4::{joinable, last_sequence, split_stored, trailer, Joiner};

/// Largest raw size the target considers.
const MAX_RAW: usize = 1 << 20;

/// `data` = declared raw size (u32 LE, modulo 1 MiB + 1) ‖ a position (u32 LE) ‖ an LZ4 block.
pub fn lz4_join(data: &[u8]) {
    let Some((head, block)) = data.split_first_chunk::<8>() else {
        return;
    };
    let declared =
        u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize % (MAX_RAW + 1);
    let position = u32::from_le_bytes([head[4], head[5], head[6], head[7]]) as usize;

    // What the PutLogs path does: decompress with the declared size, then ask.
    let mut raw = vec![0u8; declared];
    if let Ok(n) = lz4_flex::block::decompress_into(block, &mut raw) {
        raw.truncate(n);
        check_block(block, &raw);
    }
    // The size liblz4 finds, so that the fuzzer need not guess it.
    let mut out = vec![0u8; MAX_RAW];
    if let Ok(n) = lz4::block::decompress_to_buffer(block, Some(MAX_RAW as i32), &mut out) {
        if n != declared && n < MAX_RAW {
            out.truncate(n);
            check_block(block, &out);
        }
    }

    // Never a panic on what was not checked: any claimed size, any position, any payload.
    let _ = joinable(block, declared);
    let mut j = Joiner::default();
    j.literals(head);
    let _ = j.block_at(block, declared, position);
    let _ = j.stored(block, declared);
    let _ = j.block(block, declared);
    let _ = split_stored(block);
    let _ = j.finish();
}

/// `block` decompresses to `raw`: if it is joinable, joins with literals around it, by walk,
/// by position and as a stored payload, decompress (with liblz4) to the concatenation.
fn check_block(block: &[u8], raw: &[u8]) {
    let n = raw.len();
    let last = last_sequence(block, n);
    assert_eq!(joinable(block, n), last.is_some());
    let Some(last) = last else {
        let mut j = Joiner::default();
        assert!(
            j.block(block, n).is_err(),
            "a block that is not joinable was joined"
        );
        assert_eq!(j.raw_len(), 0);
        return;
    };
    let t = trailer(block, n).expect("a joinable block has a trailer");
    assert_eq!(u32::from_le_bytes(t) as usize, last);
    let stored = [block, &t[..]].concat();
    assert_eq!(split_stored(&stored), Some((block, last)));

    let prefix: Vec<u8> = (0..(block.len() % 40) as u8).collect();
    let mut j = Joiner::with_capacity(4 * block.len());
    let mut expected = Vec::with_capacity(4 * n + 64);
    j.literals(&prefix);
    expected.extend_from_slice(&prefix);
    j.block(block, n).expect("joinable");
    expected.extend_from_slice(raw);
    j.literals(&[0x0a, 0x81, 0x01]);
    expected.extend_from_slice(&[0x0a, 0x81, 0x01]);
    j.block_at(block, n, last).expect("its own last sequence");
    expected.extend_from_slice(raw);
    j.stored(&stored, n).expect("its own stored payload");
    expected.extend_from_slice(raw);
    j.block(block, n).expect("joinable");
    expected.extend_from_slice(raw);
    assert_eq!(j.raw_len(), expected.len());
    let joined = j.finish();

    let mut out = vec![0u8; expected.len()];
    let got = lz4::block::decompress_to_buffer(&joined, Some(expected.len() as i32), &mut out)
        .unwrap_or_else(|e| panic!("liblz4 refuses the join of {block:02x?}: {e}"));
    assert_eq!(got, expected.len(), "join of {block:02x?}");
    assert!(
        out == expected,
        "join of {block:02x?} decompresses to other bytes"
    );
    assert!(
        joinable(&joined, expected.len()),
        "the join keeps the end rules"
    );
}
