//! Hash slots and inclusive slot ranges, the unit in which Redis Cluster assigns data.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Number of hash slots in every Redis Cluster.
pub const SLOT_COUNT: u16 = 16384;

/// An inclusive range of slots, written `[start, end]` in JSON and `start-end` in text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SlotRange {
    pub start: u16,
    pub end: u16,
}

impl SlotRange {
    pub fn new(start: u16, end: u16) -> Self {
        Self { start, end }
    }

    /// How many slots the range holds (never zero).
    pub fn count(&self) -> usize {
        usize::from(self.end - self.start) + 1
    }

    pub fn slots(&self) -> impl Iterator<Item = u16> {
        self.start..=self.end
    }
}

impl fmt::Display for SlotRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.start == self.end {
            write!(f, "{}", self.start)
        } else {
            write!(f, "{}-{}", self.start, self.end)
        }
    }
}

impl Serialize for SlotRange {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        [self.start, self.end].serialize(s)
    }
}

impl<'de> Deserialize<'de> for SlotRange {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let [start, end] = <[u16; 2]>::deserialize(d)?;
        if start > end || end >= SLOT_COUNT {
            return Err(serde::de::Error::custom(format!(
                "invalid slot range [{start}, {end}]: slots are 0-16383 and start must not exceed end"
            )));
        }
        Ok(SlotRange { start, end })
    }
}

/// Collapses slots (in any order, duplicates allowed) into sorted, maximal ranges.
pub fn ranges_of(slots: impl IntoIterator<Item = u16>) -> Vec<SlotRange> {
    let mut sorted: Vec<u16> = slots.into_iter().collect();
    sorted.sort_unstable();
    sorted.dedup();
    let mut ranges: Vec<SlotRange> = Vec::new();
    for slot in sorted {
        match ranges.last_mut() {
            Some(last) if last.end + 1 == slot => last.end = slot,
            _ => ranges.push(SlotRange::new(slot, slot)),
        }
    }
    ranges
}

/// Formats ranges as Redis and redis-cli do: `0-5460,5462`.
pub fn format_ranges(ranges: &[SlotRange]) -> String {
    ranges
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_collapse_and_sort() {
        let ranges = ranges_of([5, 3, 4, 10, 4, 0]);
        assert_eq!(format_ranges(&ranges), "0,3-5,10");
        assert_eq!(ranges.iter().map(SlotRange::count).sum::<usize>(), 5);
    }

    #[test]
    fn json_rejects_bad_ranges() {
        assert!(serde_json::from_str::<SlotRange>("[10, 5]").is_err());
        assert!(serde_json::from_str::<SlotRange>("[0, 16384]").is_err());
        assert_eq!(
            serde_json::from_str::<SlotRange>("[0, 16383]")
                .unwrap()
                .count(),
            16384
        );
    }
}
