//! `[agent] shard = "K/N"`: this agent watches the K-th of N shares of the targets. Several
//! agents with the same target list (or the same discovery) and shards `1/N` … `N/N` split the
//! fleet with no overlap and no gap; they know nothing of each other.
//!
//! A target's share is a stable hash of its name (FNV-1a 64, the same on every platform and
//! version), so it stays with its agent as long as its name does — and so does its history.

use serde::Serialize;
use std::fmt;

/// The most shares a fleet can be split into.
pub const MAX_SHARDS: u32 = 1024;

/// One share of the targets: `index` of `count`, 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(into = "String")]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    /// `"2/3"`, or why not (the message names the value and what to write).
    pub fn parse(text: &str) -> Result<Shard, String> {
        let wrong = || {
            format!(
                "'{text}' is not a shard: write \"K/N\" with 1 <= K <= N <= {MAX_SHARDS}, e.g. shard = \"2/3\" (this agent watches the second of three shares of the targets)"
            )
        };
        let (k, n) = text.trim().split_once('/').ok_or_else(wrong)?;
        let index: u32 = k.trim().parse().map_err(|_| wrong())?;
        let count: u32 = n.trim().parse().map_err(|_| wrong())?;
        if index == 0 || count == 0 || index > count || count > MAX_SHARDS {
            return Err(wrong());
        }
        Ok(Shard { index, count })
    }

    /// Whether the target named `name` is in this share.
    pub fn owns(&self, name: &str) -> bool {
        (share_hash(name) % u64::from(self.count)) as u32 == self.index - 1
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl From<Shard> for String {
    fn from(s: Shard) -> String {
        s.to_string()
    }
}

/// FNV-1a 64 of a target name: stable across versions and platforms.
fn share_hash(name: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in name.as_bytes() {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn shards_split_any_fleet_with_no_overlap_and_no_gap() {
        for count in [1u32, 2, 3, 7, 64] {
            let shards: Vec<Shard> = (1..=count)
                .map(|k| Shard::parse(&format!("{k}/{count}")).unwrap())
                .collect();
            let mut sizes = vec![0usize; count as usize];
            for i in 0..3000 {
                let name = format!("svc-{i}.prod:8080");
                let owners: Vec<usize> = (0..shards.len())
                    .filter(|&s| shards[s].owns(&name))
                    .collect();
                assert_eq!(owners.len(), 1, "{name} in shards {owners:?} of {count}");
                sizes[owners[0]] += 1;
            }
            // Balanced enough: every share within half of the mean.
            let mean = 3000 / count as usize;
            assert!(
                sizes.iter().all(|&n| n * 2 >= mean && n <= mean * 2),
                "{count}: {sizes:?}"
            );
        }
    }

    #[test]
    fn a_share_is_stable() {
        // Pinned: a change to the hash would move every target (and its history) to another agent.
        assert_eq!(share_hash("one-api"), 0xa5da_9513_bf79_8672);
        let owner = |name: &str| (1..=3).find(|&k| Shard { index: k, count: 3 }.owns(name));
        assert_eq!(owner("one-api"), Some(2));
    }

    #[test]
    fn bad_shards_say_what_to_write() {
        for bad in [
            "", "3", "0/3", "4/3", "1/0", "a/b", "1/2/3", "1/2000", "-1/3",
        ] {
            let e = Shard::parse(bad).unwrap_err();
            assert!(e.contains("write \"K/N\""), "{bad}: {e}");
            assert!(e.contains(&format!("'{bad}'")), "{bad}: {e}");
        }
        assert_eq!(Shard::parse(" 2 / 3 ").unwrap().to_string(), "2/3");
    }
}
