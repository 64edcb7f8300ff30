//! A tiny hasher for `Xid` keys.
//!
//! XIDs are not attacker-chosen (Oracle allocates them), so the map does not need SipHash's
//! flooding resistance; it needs one multiply per lookup. The 64×64→128-bit multiply folds the
//! high half back in so both the low bits (bucket index) and the high bits (hashbrown's control
//! byte) depend on every input bit.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

const K: u64 = 0x9E37_79B9_7F4A_7C15;

#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct XidHasher(u64);

impl XidHasher {
    #[inline]
    fn mix(&mut self, x: u64) {
        let m = u128::from(x ^ self.0) * u128::from(K);
        self.0 = (m as u64) ^ ((m >> 64) as u64);
    }
}

impl Hasher for XidHasher {
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }

    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        // Not used by `Xid` (it hashes one u64); correct but slow for anything else.
        for chunk in bytes.chunks(8) {
            let mut buf = [0u8; 8];
            buf[..chunk.len()].copy_from_slice(chunk);
            self.mix(u64::from_le_bytes(buf));
        }
    }

    #[inline]
    fn write_u64(&mut self, x: u64) {
        self.mix(x);
    }
}

pub(crate) type XidMap<K, V> = HashMap<K, V, BuildHasherDefault<XidHasher>>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    #[test]
    fn neighbouring_xids_spread_over_low_and_high_bits() {
        let b = BuildHasherDefault::<XidHasher>::default();
        let hashes: Vec<u64> = (0..1024u64).map(|i| b.hash_one(i << 32 | 7)).collect();
        let low: std::collections::HashSet<u64> = hashes.iter().map(|h| h & 1023).collect();
        let high: std::collections::HashSet<u64> = hashes.iter().map(|h| h >> 57).collect();
        assert!(low.len() > 600, "low bits collide: {}", low.len());
        assert_eq!(high.len(), 128);
    }
}
