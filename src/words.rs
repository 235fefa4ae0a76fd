//! Word-at-a-time (SWAR) byte scans: eight bytes per step in one `u64`,
//! for the hot loops that look for a few byte values (JSON escapes, the
//! redactor's trigger bytes) and compare short byte strings.
//!
//! Self-contained (std only): the `evt-telemetry` command includes it too.

/// `0x01` in every byte.
pub(crate) const LO: u64 = 0x0101_0101_0101_0101;
/// `0x80` in every byte.
pub(crate) const HI: u64 = 0x8080_8080_8080_8080;

/// Eight bytes as a little-endian word (the first byte lowest).
#[inline(always)]
pub(crate) fn word(chunk: &[u8; 8]) -> u64 {
    u64::from_le_bytes(*chunk)
}

/// The eight bytes at `at` as a word (see [`word`]), if there are eight.
#[inline(always)]
pub(crate) fn word_at(bytes: &[u8], at: usize) -> Option<u64> {
    let w: [u8; 8] = bytes.get(at..at + 8)?.try_into().ok()?;
    Some(u64::from_le_bytes(w))
}

/// Borrow-based flags: the high bit of every zero byte of `x`. A borrow
/// can also flag a byte *above* a true hit, never one below: the lowest
/// flag is exact, the others are candidates to check.
#[inline(always)]
pub(crate) fn zero_bytes(x: u64) -> u64 {
    x.wrapping_sub(LO) & !x
}

/// The high bit of every byte of `w` strictly between `lo` and `hi`
/// (`hi` at most 0x80). Exact, no flags from borrows: each byte's low seven
/// bits are compared without carries into the next byte.
#[inline(always)]
pub(crate) fn between_bytes(w: u64, lo: u8, hi: u8) -> u64 {
    let y = w & (LO * 0x7f);
    let below_hi = (LO * (127 + u64::from(hi))).wrapping_sub(y);
    let above_lo = y + LO * (127 - u64::from(lo.min(127)));
    below_hi & above_lo & !w & HI
}

/// The high bit of every byte of `w` that JSON must escape: below 0x20, a
/// quote or a backslash (see [`zero_bytes`] for the flags above a hit).
#[inline(always)]
pub(crate) fn json_special(w: u64) -> u64 {
    let below_space = w.wrapping_sub(LO * 0x20) & !w;
    let quote = zero_bytes(w ^ (LO * u64::from(b'"')));
    let backslash = zero_bytes(w ^ (LO * u64::from(b'\\')));
    (below_space | quote | backslash) & HI
}

/// The index of the lowest flagged byte of a mask.
#[inline(always)]
pub(crate) fn first(mask: u64) -> usize {
    mask.trailing_zeros() as usize / 8
}

/// Equality of short byte strings in whole words, without a `memcmp` call
/// (field names and label values are tens of bytes, where the call costs
/// more than the comparison): 8 bytes at a time, the tail as one last
/// (overlapping) word.
#[inline]
pub(crate) fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    if n < 8 {
        let half = |s: &[u8], at: usize| {
            let w: Option<[u8; 4]> = s.get(at..at + 4).and_then(|w| w.try_into().ok());
            w.map(u32::from_ne_bytes)
        };
        return match n {
            4.. => half(a, 0) == half(b, 0) && half(a, n - 4) == half(b, n - 4),
            _ => a.iter().zip(b).all(|(x, y)| x == y),
        };
    }
    let ((wa, _), (wb, _)) = (a.as_chunks::<8>(), b.as_chunks::<8>());
    let last = |s: &[u8]| s.last_chunk::<8>().map(word);
    wa.iter().zip(wb).all(|(x, y)| word(x) == word(y)) && last(a) == last(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The high bit of every byte of `w` equal to `b` (see [`zero_bytes`]).
    fn eq_bytes(w: u64, b: u8) -> u64 {
        zero_bytes(w ^ (LO * u64::from(b))) & HI
    }

    fn scalar(w: u64, pred: impl Fn(u8) -> bool) -> Option<usize> {
        w.to_le_bytes().iter().position(|&b| pred(b))
    }

    proptest::proptest! {
        #[test]
        fn the_lowest_flag_is_the_first_matching_byte(bytes in proptest::array::uniform8(0u8..=255)) {
            let w = u64::from_le_bytes(bytes);
            let special = |b: u8| b < 0x20 || b == b'"' || b == b'\\';
            let got = json_special(w);
            proptest::prop_assert_eq!((got != 0).then(|| first(got)), scalar(w, special));
            for b in [b'=', b':', b's', 0, 0xff] {
                let got = eq_bytes(w, b);
                proptest::prop_assert_eq!((got != 0).then(|| first(got)), scalar(w, |x| x == b));
            }
        }

        #[test]
        fn no_matching_byte_is_ever_missed(bytes in proptest::array::uniform8(0u8..=255)) {
            let w = u64::from_le_bytes(bytes);
            for (i, &b) in bytes.iter().enumerate() {
                let flagged = |mask: u64| mask & (0x80 << (8 * i)) != 0;
                proptest::prop_assert!(!(b < 0x20 || b == b'"' || b == b'\\') || flagged(json_special(w)));
                proptest::prop_assert!(flagged(eq_bytes(w, b)));
            }
        }

        #[test]
        fn between_bytes_flags_exactly_the_bytes_in_range(
            bytes in proptest::array::uniform8(0u8..=255), lo in 0u8..=0x80, hi in 0u8..=0x80,
        ) {
            let got = between_bytes(u64::from_le_bytes(bytes), lo, hi);
            for (i, &b) in bytes.iter().enumerate() {
                let flagged = got & (0x80 << (8 * i)) != 0;
                proptest::prop_assert_eq!(flagged, lo < b && b < hi, "{:#x}", b);
            }
        }

        #[test]
        fn bytes_eq_is_slice_equality(a in proptest::collection::vec(0u8..4, 0..40), b in proptest::collection::vec(0u8..4, 0..40)) {
            proptest::prop_assert_eq!(bytes_eq(&a, &b), a == b);
            proptest::prop_assert!(bytes_eq(&a, &a));
        }
    }

    #[test]
    fn words_are_read_little_endian_and_only_when_whole() {
        assert_eq!(
            word_at(b"abcdefghi", 1),
            Some(u64::from_le_bytes(*b"bcdefghi"))
        );
        assert_eq!(word_at(b"abcdefg", 0), None);
    }
}
