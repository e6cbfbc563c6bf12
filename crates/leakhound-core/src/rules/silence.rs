//! Silences: "don't notify about this target / rule until then" (`leakhound silence add`).
//! Pure data; the agent stores them and hands them to the engine.

use serde::{Deserialize, Serialize};

/// One silence. `target` and `rule` are exact names or globs with `*` (`one-api-*`,
/// `goroutines_*`); `None` matches everything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Silence {
    pub id: String,
    pub target: Option<String>,
    pub rule: Option<String>,
    /// Active while `now < until_ms`.
    pub until_ms: i64,
    pub comment: String,
    pub created_ms: i64,
}

impl Silence {
    pub fn matches(&self, target: &str, rule: &str) -> bool {
        self.target.as_deref().is_none_or(|p| glob_match(p, target))
            && self.rule.as_deref().is_none_or(|p| glob_match(p, rule))
    }

    pub fn is_active(&self, now_ms: i64) -> bool {
        now_ms < self.until_ms
    }
}

/// A set of silences.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Silences {
    list: Vec<Silence>,
}

impl Silences {
    pub fn new(list: Vec<Silence>) -> Silences {
        Silences { list }
    }

    /// Add a silence, replacing one with the same id.
    pub fn add(&mut self, silence: Silence) {
        self.list.retain(|s| s.id != silence.id);
        self.list.push(silence);
    }

    /// Remove by id; whether it existed.
    pub fn remove(&mut self, id: &str) -> bool {
        let before = self.list.len();
        self.list.retain(|s| s.id != id);
        self.list.len() != before
    }

    pub fn list(&self) -> &[Silence] {
        &self.list
    }

    /// The first active silence matching `target` and `rule` at `now_ms`.
    pub fn matching(&self, now_ms: i64, target: &str, rule: &str) -> Option<&Silence> {
        self.list
            .iter()
            .find(|s| s.is_active(now_ms) && s.matches(target, rule))
    }

    pub fn silenced(&self, now_ms: i64, target: &str, rule: &str) -> bool {
        self.matching(now_ms, target, rule).is_some()
    }

    /// Drop the silences that have ended by `now_ms`, and return them.
    pub fn expire(&mut self, now_ms: i64) -> Vec<Silence> {
        let (active, ended) = std::mem::take(&mut self.list)
            .into_iter()
            .partition(|s| s.is_active(now_ms));
        self.list = active;
        ended
    }
}

/// Whether `text` matches `pattern`, where `*` matches any run of characters (also none) and
/// everything else matches itself.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    // Where the last `*` was, and the text position it currently stands for.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("one-api", "one-api"));
        assert!(!glob_match("one-api", "one-api-2"));
        assert!(glob_match("one-*", "one-api-2"));
        assert!(glob_match("*", ""));
        assert!(glob_match("*api*", "one-api-2"));
        assert!(glob_match("goroutines_*", "goroutines_urgent"));
        assert!(!glob_match("goroutines_*", "memory_warning"));
        assert!(glob_match("a*b*c", "axxbyyc"));
        assert!(!glob_match("a*b*c", "axxbyy"));
        assert!(glob_match("**x", "abx"));
    }

    #[test]
    fn expiry_and_matching() {
        let mut s = Silences::default();
        s.add(Silence {
            id: "1".into(),
            target: Some("one-*".into()),
            rule: None,
            until_ms: 100,
            comment: "deploy".into(),
            created_ms: 0,
        });
        assert!(s.silenced(99, "one-api", "goroutines_urgent"));
        assert!(!s.silenced(99, "other", "goroutines_urgent"));
        assert!(!s.silenced(100, "one-api", "goroutines_urgent"));
        assert!(s.expire(50).is_empty());
        assert_eq!(s.expire(100).len(), 1);
        assert!(s.list().is_empty());
        assert!(!s.remove("1"));
    }
}
