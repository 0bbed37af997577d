//! Joining raw LZ4 blocks without decompressing them (design §5.1).
//!
//! An LZ4 block is a run of sequences: a token (literal length in the high nibble, match length
//! in the low one), extra literal-length bytes, the literals, then a 2-byte offset and extra
//! match-length bytes. The last sequence stops after its literals. A block never refers to bytes
//! before its own start, so a block can follow other output unchanged except at its seams: its
//! first sequence takes over the literals pending before it, and its last, literals-only sequence
//! becomes the literals pending after it.

/// Shortest literal run that may end a block that has matches (the format's `LASTLITERALS`).
const LAST_LITERALS: usize = 5;
/// The last match must start at least this many bytes before the end of the block (`MFLIMIT`).
const MATCH_FIND_LIMIT: usize = 12;
/// Shortest match; the low nibble of a token counts from here.
const MIN_MATCH: usize = 4;

/// The structure of one block, as far as joining needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Walk {
    /// Literals of the first sequence (byte range in the block).
    first_literals: (usize, usize),
    /// Position of the last sequence's token.
    last_token: usize,
    /// Start of the last sequence's literals (they run to the end of the block).
    last_literals: usize,
    /// Decompressed length.
    raw_len: usize,
    /// Output position where the last match starts, if the block has any match.
    last_match_at: Option<usize>,
}

/// Reads a length continued in 255-valued bytes after a nibble of 15.
fn extended(b: &[u8], p: &mut usize, mut n: usize) -> Option<usize> {
    if n == 15 {
        loop {
            let x = *b.get(*p)?;
            *p += 1;
            n = n.checked_add(usize::from(x))?;
            if x != 255 {
                break;
            }
        }
    }
    Some(n)
}

/// Walks the sequences of `b`, stopping early once the output would exceed `max_raw`. `None`
/// when the block is not well formed (runs past its end, a zero offset, ends in a match).
fn walk(b: &[u8], max_raw: usize) -> Option<Walk> {
    let mut p = 0;
    let mut out = 0usize;
    let mut first_literals = None;
    let mut last_match_at = None;
    loop {
        let token_at = p;
        let token = *b.get(p)?;
        p += 1;
        let lit = extended(b, &mut p, usize::from(token >> 4))?;
        let lit_at = p;
        p = p.checked_add(lit).filter(|&e| e <= b.len())?;
        out = out.checked_add(lit).filter(|&o| o <= max_raw)?;
        first_literals.get_or_insert((lit_at, p));
        if p == b.len() {
            return Some(Walk {
                first_literals: first_literals.expect("set above"),
                last_token: token_at,
                last_literals: lit_at,
                raw_len: out,
                last_match_at,
            });
        }
        let offset = u16::from_le_bytes([*b.get(p)?, *b.get(p + 1)?]);
        if offset == 0 {
            return None;
        }
        p += 2;
        let len = extended(b, &mut p, usize::from(token & 15))? + MIN_MATCH;
        last_match_at = Some(out);
        out = out.checked_add(len).filter(|&o| o <= max_raw)?;
    }
}

/// Whether `block`, which the caller has decompressed to `raw_len` bytes (so its offsets are
/// known to stay inside it), keeps the format's end rules and can therefore be joined with
/// [`Joiner::block`]: its last sequence is literals only, at least 5 long when the block has a
/// match, and its last match starts at least 12 bytes before the end.
pub fn joinable(block: &[u8], raw_len: usize) -> bool {
    last_sequence(block, raw_len).is_some()
}

/// Where the last sequence of `block` starts, when the block is [`joinable`]: with it,
/// [`Joiner::block_at`] joins the block without walking it.
pub fn last_sequence(block: &[u8], raw_len: usize) -> Option<usize> {
    walk(block, raw_len)
        .filter(|w| keeps_end_rules(block, w, raw_len))
        .map(|w| w.last_token)
}

/// Bytes stored after a joinable block: the position of its last sequence, u32 little-endian
/// (design §5).
pub const TRAILER_LEN: usize = 4;

/// The trailer to store after `block` ([`TRAILER_LEN`] bytes), if the block is joinable.
pub fn trailer(block: &[u8], raw_len: usize) -> Option<[u8; TRAILER_LEN]> {
    let last = u32::try_from(last_sequence(block, raw_len)?).ok()?;
    Some(last.to_le_bytes())
}

/// A stored payload (`block ‖ trailer`) split into the block and its last sequence's position.
pub fn split_stored(payload: &[u8]) -> Option<(&[u8], usize)> {
    let at = payload.len().checked_sub(TRAILER_LEN)?;
    let (block, t) = payload.split_at(at);
    let last = u32::from_le_bytes(t.try_into().expect("4 bytes"));
    Some((block, last as usize))
}

fn keeps_end_rules(block: &[u8], w: &Walk, raw_len: usize) -> bool {
    if w.raw_len != raw_len {
        return false;
    }
    match w.last_match_at {
        None => true,
        Some(at) => {
            block.len() - w.last_literals >= LAST_LITERALS && at + MATCH_FIND_LIMIT <= raw_len
        }
    }
}

/// A block that cannot be joined (it was not checked with [`joinable`], or it changed since).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("LZ4 block of {len} bytes cannot be joined: it does not decompress to {raw_len} bytes by the format's end rules")]
pub struct JoinError {
    /// Length of the block.
    pub len: usize,
    /// Length it claimed to decompress to.
    pub raw_len: usize,
}

/// Builds one LZ4 block out of literal bytes and joinable blocks, in order.
#[derive(Debug, Default)]
pub struct Joiner {
    out: Vec<u8>,
    pending: Vec<u8>,
    raw_len: usize,
}

fn put_length(out: &mut Vec<u8>, mut n: usize) {
    // Follows a nibble of 15: 255 per full step, then the remainder (possibly 0).
    n -= 15;
    while n >= 255 {
        out.push(255);
        n -= 255;
    }
    out.push(n as u8);
}

impl Joiner {
    /// A joiner whose output is expected to be about `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            out: Vec::with_capacity(capacity),
            pending: Vec::new(),
            raw_len: 0,
        }
    }

    /// Appends bytes to the output uncompressed.
    pub fn literals(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
        self.raw_len += bytes.len();
    }

    /// Appends a block that decompresses to `raw_len` bytes (known to stay inside itself, as
    /// checked by decompressing it once). Refuses, changing nothing, a block that is not
    /// [`joinable`].
    pub fn block(&mut self, block: &[u8], raw_len: usize) -> Result<(), JoinError> {
        let w = walk(block, raw_len)
            .filter(|w| keeps_end_rules(block, w, raw_len))
            .ok_or(JoinError {
                len: block.len(),
                raw_len,
            })?;
        self.join(
            block,
            raw_len,
            w.first_literals,
            w.last_token,
            w.last_literals,
        );
        Ok(())
    }

    /// [`Joiner::block`] of a block already found joinable, whose last sequence starts at
    /// `last` (as [`last_sequence`] answered): only the first and the last sequence are read, so
    /// the cost is a copy. Refuses, changing nothing, a `last` that does not start a sequence
    /// whose literals end the block.
    pub fn block_at(&mut self, block: &[u8], raw_len: usize, last: usize) -> Result<(), JoinError> {
        let err = JoinError {
            len: block.len(),
            raw_len,
        };
        let literals_at = |mut p: usize| -> Option<(usize, usize)> {
            let token = *block.get(p)?;
            p += 1;
            let n = extended(block, &mut p, usize::from(token >> 4))?;
            Some((p, p.checked_add(n)?))
        };
        let (last_from, last_to) = literals_at(last).ok_or(err.clone())?;
        let first = literals_at(0).ok_or(err.clone())?;
        if last_to != block.len() || (last > 0 && first.1 + 2 > last) {
            return Err(err);
        }
        self.join(block, raw_len, first, last, last_from);
        Ok(())
    }

    /// [`Joiner::block_at`] of a stored payload: a block followed by its [`trailer`].
    pub fn stored(&mut self, payload: &[u8], raw_len: usize) -> Result<(), JoinError> {
        let (block, last) = split_stored(payload).ok_or(JoinError {
            len: payload.len(),
            raw_len,
        })?;
        self.block_at(block, raw_len, last)
    }

    fn join(
        &mut self,
        block: &[u8],
        raw_len: usize,
        (lit_from, lit_to): (usize, usize),
        last_token: usize,
        last_literals: usize,
    ) {
        self.raw_len += raw_len;
        if last_token == 0 {
            // Literals only.
            self.pending.extend_from_slice(&block[last_literals..]);
            return;
        }
        // The first sequence, carrying the pending literals in front of its own.
        let lit = self.pending.len() + (lit_to - lit_from);
        self.out
            .push(((lit.min(15) as u8) << 4) | (block[0] & 0x0f));
        if lit >= 15 {
            put_length(&mut self.out, lit);
        }
        self.out.extend_from_slice(&self.pending);
        self.pending.clear();
        // Its match and every sequence up to the last, as they are.
        self.out.extend_from_slice(&block[lit_from..last_token]);
        // The last sequence's literals wait for what comes next.
        self.pending.extend_from_slice(&block[last_literals..]);
    }

    /// Decompressed length of everything appended so far.
    pub fn raw_len(&self) -> usize {
        self.raw_len
    }

    /// The joined block.
    pub fn finish(mut self) -> Vec<u8> {
        let lit = self.pending.len();
        self.out.push((lit.min(15) as u8) << 4);
        if lit >= 15 {
            put_length(&mut self.out, lit);
        }
        self.out.extend_from_slice(&self.pending);
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compress(data: &[u8]) -> Vec<u8> {
        lz4_flex::block::compress(data)
    }

    fn decompress(block: &[u8], n: usize) -> Vec<u8> {
        lz4_flex::block::decompress(block, n).expect("valid block")
    }

    /// Data with repeats at every distance, text-like runs and incompressible stretches.
    fn sample(seed: u64, len: usize) -> Vec<u8> {
        let mut x = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let mut out = Vec::with_capacity(len);
        while out.len() < len {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
            match (x >> 60) % 4 {
                0 => out.extend_from_slice(b"level=info msg=\"request served\" "),
                1 => out.extend_from_slice(&x.to_le_bytes()),
                2 if out.len() > 8 => {
                    let back = ((x >> 8) as usize % out.len()).max(1);
                    let from = out.len() - back;
                    for i in 0..((x >> 32) as usize % 40) {
                        out.push(out[from + i % back]);
                    }
                }
                _ => out.push(b'a' + (x >> 40) as u8 % 26),
            }
        }
        out.truncate(len);
        out
    }

    #[test]
    fn compressed_blocks_of_every_size_are_joinable() {
        for len in (0..200).chain([1000, 4096, 65_536, 300_000]) {
            let data = sample(len as u64, len);
            let block = compress(&data);
            assert!(joinable(&block, len), "block of {len} bytes");
            assert!(!joinable(&block, len + 1), "wrong raw length {len}");
            if len > 0 {
                assert!(!joinable(&block[..block.len() - 1], len), "cut {len}");
            }
        }
    }

    #[test]
    fn joined_blocks_decompress_to_the_concatenation() {
        // Seams of every kind: block after block, literals between, literal-only blocks,
        // empty blocks and long pending runs (literal lengths past 15 and 270).
        for round in 0..60u64 {
            let mut joiner = Joiner::default();
            let mut expected = Vec::new();
            for part in 0..(1 + round % 7) {
                let seed = round * 31 + part;
                match seed % 4 {
                    0 => {
                        let lit = sample(seed, (seed as usize * 37) % 300);
                        joiner.literals(&lit);
                        expected.extend_from_slice(&lit);
                    }
                    _ => {
                        let len = [0, 3, 12, 13, 40, 700, 20_000][(seed as usize) % 7];
                        let data = sample(seed, len);
                        let block = compress(&data);
                        assert!(joinable(&block, len));
                        if round % 2 == 0 {
                            joiner.block(&block, len).unwrap();
                        } else {
                            let last = last_sequence(&block, len).unwrap();
                            joiner.block_at(&block, len, last).unwrap();
                        }
                        expected.extend_from_slice(&data);
                    }
                }
                // Framing as a LogGroupList carries it.
                joiner.literals(&[0x0a, 0x81, 0x01]);
                expected.extend_from_slice(&[0x0a, 0x81, 0x01]);
            }
            assert_eq!(joiner.raw_len(), expected.len());
            let out = joiner.finish();
            assert_eq!(decompress(&out, expected.len()), expected, "round {round}");
            assert!(
                joinable(&out, expected.len()),
                "the joined block keeps the end rules"
            );
        }
    }

    #[test]
    fn block_at_refuses_a_wrong_last_sequence() {
        let data = sample(9, 5000);
        let block = compress(&data);
        let last = last_sequence(&block, data.len()).unwrap();
        assert!(last > 0);
        let mut j = Joiner::default();
        for wrong in [last + 1, last - 1, 1, block.len(), block.len() + 7] {
            if wrong != last {
                assert!(j.block_at(&block, data.len(), wrong).is_err(), "{wrong}");
            }
        }
        assert_eq!(j.raw_len(), 0, "nothing changed");
        j.block_at(&block, data.len(), last).unwrap();
        assert_eq!(decompress(&j.finish(), data.len()), data);
        assert_eq!(last_sequence(&block[..block.len() - 1], data.len()), None);

        // Stored with its trailer.
        let t = trailer(&block, data.len()).unwrap();
        assert_eq!(u32::from_le_bytes(t) as usize, last);
        let stored = [&block[..], &t].concat();
        assert_eq!(split_stored(&stored), Some((&block[..], last)));
        assert_eq!(split_stored(&[1, 2, 3]), None);
        let mut j = Joiner::default();
        j.stored(&stored, data.len()).unwrap();
        assert!(
            j.stored(&block, data.len()).is_err(),
            "a block without its trailer"
        );
        assert_eq!(decompress(&j.finish(), data.len()), data);
    }

    #[test]
    fn an_empty_joiner_is_an_empty_block() {
        let out = Joiner::default().finish();
        assert_eq!(out, vec![0]);
        assert_eq!(decompress(&out, 0), b"");
    }

    #[test]
    fn blocks_that_break_the_end_rules_are_not_joinable() {
        // "a", match (offset 1, length 8), then literals: raw "a" * 9 + tail.
        let block = |tail: &[u8]| {
            let mut b = vec![0x14, b'a', 1, 0];
            b.push((tail.len() as u8) << 4);
            b.extend_from_slice(tail);
            b
        };
        let good = block(b"bbbbb");
        assert_eq!(decompress(&good, 14), b"aaaaaaaaabbbbb");
        assert!(joinable(&good, 14));
        // Fewer than 5 final literals.
        let short = block(b"bb");
        assert_eq!(decompress(&short, 11), b"aaaaaaaaabb");
        assert!(!joinable(&short, 11));
        // Ends in a match: no final literals at all.
        assert!(!joinable(&[0x14, b'a', 1, 0], 9));
        // Last match starting fewer than 12 bytes before the end: "ab", match(2, 4), 5 literals.
        let late = [0x20, b'a', b'b', 2, 0, 0x50, b'c', b'c', b'c', b'c', b'c'];
        assert_eq!(decompress(&late, 11), b"abababccccc");
        assert!(!joinable(&late, 11));
        // Zero offset, or a length running past the end.
        assert!(!joinable(&[0x14, b'a', 0, 0, 0x50, 1, 2, 3, 4, 5], 14));
        assert!(!joinable(&[0xf0, 255], 300));
        assert!(!joinable(&[], 0));
        // And the joiner refuses them, changing nothing.
        let mut j = Joiner::default();
        j.literals(b"x");
        assert_eq!(
            j.block(&[0x14, b'a', 1, 0], 9),
            Err(JoinError { len: 4, raw_len: 9 })
        );
        assert_eq!(
            j.block(&short, 11),
            Err(JoinError {
                len: 7,
                raw_len: 11
            })
        );
        assert_eq!(
            j.block(&late, 11),
            Err(JoinError {
                len: 11,
                raw_len: 11
            })
        );
        assert_eq!(j.raw_len(), 1);
        assert_eq!(decompress(&j.finish(), 1), b"x");
    }
}
