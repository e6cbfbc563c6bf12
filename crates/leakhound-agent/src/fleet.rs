//! Which targets the agent watches, while it runs: the config's `[[targets]]` and the latest
//! set of every `[[discovery]]` block ([`Sources`]), narrowed to this agent's `[agent] shard`,
//! and the list being watched now ([`Fleet`]), shared with the parts that look a target up by
//! name (goroutine dumps, evidence and actions).
//!
//! ```text
//! [[targets]] ─┐
//! discovery ───┼─▶ Sources::wanted() ─▶ ProberPool::apply (start / stop / restart probers)
//! reload ──────┘                      └▶ Fleet (lookups), AgentView (names), retire the gone
//! ```

use leakhound_core::config::{Config, Shard, TargetConfig};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, RwLock};

/// A 64-bit digest of `value`, to tell whether it changed without keeping a copy (a target's
/// config, a discovered list, the alert snapshot).
pub(crate) fn fingerprint<T: std::hash::Hash + ?Sized>(value: &T) -> u64 {
    use std::hash::Hasher;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    value.hash(&mut h);
    h.finish()
}

/// The targets being watched now; cheap to clone (all clones see the same list).
#[derive(Debug, Clone, Default)]
pub struct Fleet(Arc<RwLock<Arc<Watched>>>);

/// The list and its index by name (lookups come per alert and per dump request).
#[derive(Debug, Default)]
struct Watched {
    list: Arc<Vec<Arc<TargetConfig>>>,
    by_name: HashMap<String, usize>,
}

impl Watched {
    fn new(targets: Vec<Arc<TargetConfig>>) -> Watched {
        let by_name = targets
            .iter()
            .enumerate()
            .map(|(i, t)| (t.name.clone(), i))
            .collect();
        Watched {
            list: Arc::new(targets),
            by_name,
        }
    }
}

impl Fleet {
    /// A fleet of `targets`.
    pub fn new(targets: Vec<TargetConfig>) -> Fleet {
        let targets = targets.into_iter().map(Arc::new).collect();
        Fleet(Arc::new(RwLock::new(Arc::new(Watched::new(targets)))))
    }

    fn watched(&self) -> Arc<Watched> {
        match self.0.read() {
            Ok(w) => w.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The watched target named `name`.
    pub fn get(&self, name: &str) -> Option<Arc<TargetConfig>> {
        let w = self.watched();
        w.by_name.get(name).map(|&i| w.list[i].clone())
    }

    /// Every watched target, in order (config first, then discovery).
    pub fn current(&self) -> Arc<Vec<Arc<TargetConfig>>> {
        self.watched().list.clone()
    }

    pub(crate) fn set(&self, targets: Vec<Arc<TargetConfig>>) {
        let list = Arc::new(Watched::new(targets));
        match self.0.write() {
            Ok(mut slot) => *slot = list,
            Err(poisoned) => *poisoned.into_inner() = list,
        }
    }
}

/// Where the targets come from; [`Sources::wanted`] is what the agent should watch.
///
/// Every target is held once, behind an `Arc`: the sources, the wanted list, the fleet and the
/// prober share it (10 000 targets held four times were ~100 MB).
#[derive(Debug, Clone)]
pub struct Sources {
    configured: Vec<Arc<TargetConfig>>,
    /// Discovery blocks in config order; the set each last reported (`None`: not yet).
    blocks: Vec<(String, Option<Vec<Arc<TargetConfig>>>)>,
    shard: Option<Shard>,
}

/// What [`Sources::wanted`] decided.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Wanted {
    pub targets: Vec<Arc<TargetConfig>>,
    /// Targets left out because an earlier source has the same name (configured targets win,
    /// then discovery blocks in config order): `(name, the block that lost)`.
    pub duplicates: Vec<(String, String)>,
    /// How many targets all sources hold, before the shard.
    pub total: usize,
}

impl Sources {
    /// The sources of `config`: its targets now, its discovery blocks `blocks` (by name, in
    /// config order) once they report.
    pub fn new(config: &Config, blocks: Vec<String>) -> Sources {
        Sources {
            configured: config.targets.iter().cloned().map(Arc::new).collect(),
            blocks: blocks.into_iter().map(|b| (b, None)).collect(),
            shard: config.agent.shard,
        }
    }

    /// A reloaded config: its targets and shard replace the old ones; the discovery blocks
    /// `blocks` are kept with their last sets when their name stays, dropped otherwise.
    pub fn reconfigure(&mut self, config: &Config, blocks: Vec<String>) {
        self.configured = config.targets.iter().cloned().map(Arc::new).collect();
        self.shard = config.agent.shard;
        let mut old = std::mem::take(&mut self.blocks);
        self.blocks = blocks
            .into_iter()
            .map(|name| {
                let set = old
                    .iter_mut()
                    .find(|(n, _)| *n == name)
                    .and_then(|(_, set)| set.take());
                (name, set)
            })
            .collect();
    }

    /// Discovery block `block` now holds `targets`. Unknown blocks (stopped by a reload) are
    /// ignored; returns whether it was known.
    pub fn discovered(&mut self, block: &str, targets: Vec<TargetConfig>) -> bool {
        match self.blocks.iter_mut().find(|(n, _)| n == block) {
            Some((_, set)) => {
                *set = Some(targets.into_iter().map(Arc::new).collect());
                true
            }
            None => false,
        }
    }

    /// Whether every discovery block has reported at least once: only then is a target that
    /// is missing really gone (and not merely not discovered yet).
    pub fn complete(&self) -> bool {
        self.blocks.iter().all(|(_, set)| set.is_some())
    }

    /// The targets to watch: configured ones, then each block's, first name wins, in this
    /// agent's share.
    pub fn wanted(&self) -> Wanted {
        let mut seen: HashSet<&str> = HashSet::new();
        let mut out = Wanted::default();
        let discovered = self
            .blocks
            .iter()
            .filter_map(|(block, set)| set.as_ref().map(|s| (block.as_str(), s)));
        for (block, set) in std::iter::once(("[[targets]]", &self.configured)).chain(discovered) {
            for t in set {
                if !seen.insert(t.name.as_str()) {
                    out.duplicates.push((t.name.clone(), block.to_string()));
                    continue;
                }
                out.total += 1;
                if self.shard.is_none_or(|s| s.owns(&t.name)) {
                    out.targets.push(t.clone());
                }
            }
        }
        out
    }
}

/// How a watched set changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    /// Same name, different settings: probed anew with the new ones (alert state kept).
    pub changed: Vec<String>,
    pub unchanged: usize,
}

impl Changes {
    /// `old` → `new`, by name.
    pub fn between(old: &[Arc<TargetConfig>], new: &[Arc<TargetConfig>]) -> Changes {
        let before: BTreeMap<&str, &Arc<TargetConfig>> =
            old.iter().map(|t| (t.name.as_str(), t)).collect();
        let after: BTreeMap<&str, &Arc<TargetConfig>> =
            new.iter().map(|t| (t.name.as_str(), t)).collect();
        let mut changes = Changes::default();
        for (name, t) in &after {
            match before.get(name) {
                None => changes.added.push(name.to_string()),
                Some(o) if o != t => changes.changed.push(name.to_string()),
                Some(_) => changes.unchanged += 1,
            }
        }
        changes.removed = before
            .keys()
            .filter(|n| !after.contains_key(*n))
            .map(|n| n.to_string())
            .collect();
        changes
    }

    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }
}

impl std::fmt::Display for Changes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        fn names(list: &[String]) -> String {
            const SHOWN: usize = 5;
            let mut s = list
                .iter()
                .take(SHOWN)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ");
            if list.len() > SHOWN {
                s.push_str(&format!(" and {} more", list.len() - SHOWN));
            }
            s
        }
        let mut parts = Vec::new();
        for (what, list) in [
            ("added", &self.added),
            ("removed", &self.removed),
            ("changed", &self.changed),
        ] {
            if !list.is_empty() {
                parts.push(format!("{} {what} ({})", list.len(), names(list)));
            }
        }
        parts.push(format!("{} unchanged", self.unchanged));
        write!(f, "targets: {}", parts.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use leakhound_core::config::Defaults;

    fn target(name: &str, port: u16) -> TargetConfig {
        let url = format!("http://127.0.0.1:{port}/metrics").parse().ok();
        TargetConfig::new(name.into(), url, None, &Defaults::default())
    }

    fn names(w: &Wanted) -> Vec<&str> {
        w.targets.iter().map(|t| t.name.as_str()).collect()
    }

    #[test]
    fn configured_targets_win_then_blocks_in_order_and_missing_blocks_wait() {
        let config = Config {
            targets: vec![target("a", 1), target("b", 2)],
            ..Config::default()
        };
        let mut s = Sources::new(&config, vec!["files".into(), "docker".into()]);
        assert!(!s.complete());
        assert_eq!(names(&s.wanted()), ["a", "b"]);
        assert!(s.discovered("docker", vec![target("b", 9), target("d", 4)]));
        assert!(!s.complete(), "files has not reported");
        assert!(s.discovered("files", vec![target("c", 3), target("d", 5)]));
        assert!(s.complete());
        assert!(!s.discovered("gone", vec![target("x", 1)]));
        let w = s.wanted();
        assert_eq!(names(&w), ["a", "b", "c", "d"]);
        assert_eq!(
            w.targets[3].url.as_ref().unwrap().port(),
            Some(5),
            "files first"
        );
        assert_eq!(
            w.duplicates,
            [
                ("d".to_string(), "docker".to_string()),
                ("b".into(), "docker".into())
            ]
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
        );
        assert_eq!(w.total, 4);
    }

    #[test]
    fn a_reload_keeps_the_sets_of_blocks_that_stay_and_the_shard_applies_to_all() {
        let mut config = Config {
            targets: vec![target("a", 1)],
            ..Config::default()
        };
        let mut s = Sources::new(&config, vec!["files".into(), "http".into()]);
        s.discovered(
            "files",
            (0..30).map(|i| target(&format!("f{i}"), 10)).collect(),
        );
        s.discovered("http", vec![target("h", 2)]);
        config.agent.shard = Some(Shard::parse("1/2").unwrap());
        s.reconfigure(&config, vec!["files".into(), "docker".into()]);
        assert!(!s.complete(), "the new block has not reported");
        let w = s.wanted();
        assert_eq!(w.total, 31, "files kept, http dropped");
        assert!(w.targets.len() < 31 && !w.targets.is_empty());
        assert!(w
            .targets
            .iter()
            .all(|t| Shard::parse("1/2").unwrap().owns(&t.name)));
    }

    #[test]
    fn changes_are_by_name_and_settings() {
        let old = [target("a", 1), target("b", 2), target("c", 3)].map(Arc::new);
        let new = [target("a", 1), target("b", 20), target("d", 4)].map(Arc::new);
        let c = Changes::between(&old, &new);
        assert_eq!(c.added, ["d"]);
        assert_eq!(c.removed, ["c"]);
        assert_eq!(c.changed, ["b"]);
        assert_eq!(c.unchanged, 1);
        assert_eq!(
            c.to_string(),
            "targets: 1 added (d), 1 removed (c), 1 changed (b), 1 unchanged"
        );
        assert!(Changes::between(&old, &old).is_empty());
    }

    #[test]
    fn a_fleet_is_shared_by_its_clones() {
        let fleet = Fleet::new(vec![target("a", 1)]);
        let other = fleet.clone();
        fleet.set(vec![Arc::new(target("b", 2))]);
        assert!(other.get("a").is_none());
        assert_eq!(other.get("b").unwrap().name, "b");
    }
}
