//! A Bloom filter of the stored record keys, so that a commit looks a key up in sled only when
//! the filter says it may be there: new records (nearly all of them) skip the lookup.

use xxhash_rust::xxh3::xxh3_128;

/// Bits per expected key and hashes per key: about a 1 % false-positive rate.
const BITS_PER_KEY: usize = 10;
const HASHES: usize = 7;
/// The smallest capacity a filter is built for (1.25 MiB of bits).
const MIN_CAPACITY: usize = 1 << 20;

/// A Bloom filter sized for `capacity` keys. It never forgets a key, so "absent" is certain;
/// past its capacity the caller rebuilds it larger from the stored keys.
pub struct KeyFilter {
    bits: Vec<u64>,
    keys: usize,
    capacity: usize,
}

impl KeyFilter {
    /// An empty filter for at least `capacity` keys.
    pub fn with_capacity(capacity: usize) -> Self {
        let capacity = capacity.max(MIN_CAPACITY);
        Self { bits: vec![0; (capacity * BITS_PER_KEY).div_ceil(64)], keys: 0, capacity }
    }

    /// The bit positions of `key`: double hashing of its xxh3-128.
    fn positions(&self, key: &[u8]) -> [usize; HASHES] {
        let hash = xxh3_128(key);
        let (first, second) = (hash as u64, (hash >> 64) as u64 | 1);
        let bits = self.bits.len() as u64 * 64;
        std::array::from_fn(|i| (first.wrapping_add((i as u64).wrapping_mul(second)) % bits) as usize)
    }

    /// Whether `key` may have been inserted (false: certainly not).
    pub fn may_contain(&self, key: &[u8]) -> bool {
        self.positions(key).iter().all(|&bit| self.bits[bit / 64] & (1 << (bit % 64)) != 0)
    }

    /// Adds `key`.
    pub fn insert(&mut self, key: &[u8]) {
        for bit in self.positions(key) {
            self.bits[bit / 64] |= 1 << (bit % 64);
        }
        self.keys += 1;
    }

    /// Whether more keys than it was sized for went in (its false-positive rate is rising).
    pub fn is_full(&self) -> bool {
        self.keys > self.capacity
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inserted_keys_are_always_found_and_few_others_are() {
        let mut filter = KeyFilter::with_capacity(10_000);
        for i in 0u32..10_000 {
            filter.insert(&i.to_be_bytes());
        }
        assert!((0u32..10_000).all(|i| filter.may_contain(&i.to_be_bytes())));
        let false_positives = (10_000u32..110_000).filter(|i| filter.may_contain(&i.to_be_bytes())).count();
        // Sized for 2^20 keys, holding 10,000: well under the 1 % of a full filter.
        assert!(false_positives < 200, "{false_positives} false positives in 100,000");
        assert!(!filter.is_full());
    }

    #[test]
    fn a_filter_past_its_capacity_says_so() {
        let mut filter = KeyFilter::with_capacity(0);
        for i in 0..MIN_CAPACITY as u64 {
            filter.insert(&i.to_be_bytes());
        }
        assert!(!filter.is_full());
        filter.insert(b"one more");
        assert!(filter.is_full());
    }
}
