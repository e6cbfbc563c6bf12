//! `type = "file"`: Prometheus file_sd files, polled.
//!
//! Every `refresh_interval` the block's paths are expanded (a `*` in the file name matches any
//! run of characters but `/`, as Go's `filepath.Match` and so Prometheus do) and each file is
//! `stat`'ed. A file is read and parsed again only when its size, modification time or inode
//! changed (an editor's rename-over counts). Relative paths are relative to the agent's working
//! directory. All file IO and parsing run on the blocking pool.

use super::Publisher;
use leakhound_core::config::{DiscoveryConfig, TargetConfig, TargetTemplate};
use leakhound_core::discovery::{parse_target_groups, SdFormat, TargetSet, MAX_SD_BODY_BYTES};
use leakhound_core::text::target_text;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// The most files one block follows; more matches are ignored with a warning.
pub const MAX_FILES: usize = 1000;

/// What identifies one version of a file without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
    inode: u64,
}

#[derive(Debug)]
struct Known {
    stamp: Stamp,
    targets: Vec<TargetConfig>,
}

/// What the block knows between two polls.
#[derive(Debug, Default)]
pub(crate) struct Scan {
    files: BTreeMap<PathBuf, Known>,
    /// Paths and directories already reported missing (reported again once they came back).
    missing: HashSet<PathBuf>,
    too_many_warned: bool,
    first: bool,
}

pub(super) async fn run(block: DiscoveryConfig, patterns: Vec<PathBuf>, mut out: Publisher) {
    let mut scan = Scan {
        first: true,
        ..Scan::default()
    };
    loop {
        let template = block.template.clone();
        let patterns_now = patterns.clone();
        let polled = out
            .or_stop(tokio::task::spawn_blocking(move || {
                let result = scan.poll(&patterns_now, &template);
                (scan, result)
            }))
            .await;
        let Some(Ok((returned, (targets, warnings)))) = polled else {
            return; // stopping, or the blocking task panicked (a bug; nothing to keep)
        };
        scan = returned;
        out.warn_all(&warnings);
        if let Some(targets) = targets {
            if !out.publish(targets).await {
                return;
            }
        }
        if !out.sleep(block.refresh_interval).await {
            return;
        }
    }
}

impl Scan {
    /// One poll: the block's targets when something changed (or on the first poll), and the
    /// warnings.
    fn poll(
        &mut self,
        patterns: &[PathBuf],
        template: &TargetTemplate,
    ) -> (Option<Vec<TargetConfig>>, Vec<String>) {
        let mut warnings = Vec::new();
        let mut paths = BTreeSet::new();
        for pattern in patterns {
            for path in self.expand(pattern, &mut warnings) {
                if paths.len() >= MAX_FILES {
                    if !self.too_many_warned {
                        warnings.push(format!(
                            "more than {MAX_FILES} files match; the rest are ignored: narrow the patterns"
                        ));
                        self.too_many_warned = true;
                    }
                    break;
                }
                paths.insert(path);
            }
        }
        let before = self.files.len();
        // A file that is gone drops its targets (as Prometheus does).
        self.files.retain(|p, _| paths.contains(p));
        let mut changed = self.first || self.files.len() != before;
        self.first = false;
        for path in paths {
            changed |= self.refresh(&path, template, &mut warnings);
        }
        if !changed {
            return (None, warnings);
        }
        let mut set = TargetSet::new();
        for (path, known) in &self.files {
            set.extend(&known.targets, &shown(path));
        }
        let found = set.finish();
        warnings.extend(found.warnings);
        (Some(found.targets), warnings)
    }

    /// Re-read `path` if it changed; whether its targets changed.
    fn refresh(
        &mut self,
        path: &Path,
        template: &TargetTemplate,
        warnings: &mut Vec<String>,
    ) -> bool {
        let stamp = match std::fs::metadata(path) {
            Ok(m) => stamp_of(&m),
            Err(e) => {
                // Vanished between the listing and now: as deleted.
                if e.kind() != std::io::ErrorKind::NotFound {
                    warnings.push(format!(
                        "{}: cannot read it ({e}); its last targets stay",
                        shown(path)
                    ));
                }
                return self
                    .files
                    .remove(path)
                    .is_some_and(|k| !k.targets.is_empty());
            }
        };
        if self.files.get(path).is_some_and(|k| k.stamp == stamp) {
            return false;
        }
        let previous = self.files.get(path).map(|k| k.targets.len());
        let keep = |why: String, warnings: &mut Vec<String>| {
            let kept = match previous {
                Some(n) => format!("its last {n} targets stay"),
                None => "it gives no targets until it is fixed".to_string(),
            };
            warnings.push(format!("{why}; {kept}"));
        };
        let body = match read_capped(path) {
            Ok(body) => body,
            Err(why) => {
                keep(why, warnings);
                self.set_stamp(path, stamp);
                return false;
            }
        };
        let format = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(SdFormat::from_name)
            .unwrap_or(SdFormat::Json);
        match parse_target_groups(&body, format, &shown(path), template) {
            Ok(found) => {
                warnings.extend(found.warnings);
                let old = self.files.insert(
                    path.to_path_buf(),
                    Known {
                        stamp,
                        targets: found.targets,
                    },
                );
                old.is_none_or(|o| Some(&o.targets) != self.files.get(path).map(|k| &k.targets))
            }
            Err(why) => {
                keep(why, warnings);
                self.set_stamp(path, stamp);
                false
            }
        }
    }

    /// Remember `stamp` for a file that could not be read, so it is tried again only once it
    /// changes (and warned about once per change).
    fn set_stamp(&mut self, path: &Path, stamp: Stamp) {
        self.files
            .entry(path.to_path_buf())
            .and_modify(|k| k.stamp = stamp)
            .or_insert(Known {
                stamp,
                targets: Vec::new(),
            });
    }

    /// The files `pattern` names now, sorted. A missing file or directory is reported once.
    fn expand(&mut self, pattern: &Path, warnings: &mut Vec<String>) -> Vec<PathBuf> {
        let name = pattern
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if !name.contains('*') {
            let exists = pattern.is_file();
            self.note_missing(pattern, !exists, "there is no such file (yet)", warnings);
            return if exists {
                vec![pattern.to_path_buf()]
            } else {
                Vec::new()
            };
        }
        let dir = match pattern.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => {
                self.note_missing(&dir, false, "", warnings);
                e
            }
            Err(e) => {
                self.note_missing(
                    &dir,
                    true,
                    &format!("cannot list the directory ({e})"),
                    warnings,
                );
                return Vec::new();
            }
        };
        let mut out: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_str().is_some_and(|n| glob_match(&name, n)))
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .collect();
        out.sort();
        out
    }

    fn note_missing(&mut self, path: &Path, missing: bool, why: &str, warnings: &mut Vec<String>) {
        if !missing {
            self.missing.remove(path);
        } else if self.missing.insert(path.to_path_buf()) {
            warnings.push(format!(
                "{}: {why}; it is checked again every refresh_interval",
                shown(path)
            ));
        }
    }
}

fn stamp_of(m: &std::fs::Metadata) -> Stamp {
    use std::os::unix::fs::MetadataExt;
    Stamp {
        len: m.len(),
        modified: m.modified().ok(),
        inode: m.ino(),
    }
}

/// A path fit for a log line.
fn shown(path: &Path) -> String {
    target_text(&path.to_string_lossy())
}

/// The file's bytes, at most [`MAX_SD_BODY_BYTES`].
fn read_capped(path: &Path) -> Result<Vec<u8>, String> {
    let file =
        std::fs::File::open(path).map_err(|e| format!("{}: cannot read it ({e})", shown(path)))?;
    let mut body = Vec::new();
    file.take(MAX_SD_BODY_BYTES + 1)
        .read_to_end(&mut body)
        .map_err(|e| format!("{}: cannot read it ({e})", shown(path)))?;
    if body.len() as u64 > MAX_SD_BODY_BYTES {
        return Err(format!(
            "{}: it is larger than the {} a discovery file may have; split it",
            shown(path),
            leakhound_core::units::human_bytes(MAX_SD_BODY_BYTES)
        ));
    }
    Ok(body)
}

/// Whether `name` matches `pattern`, where `*` matches any run of characters.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let (first, rest) = match parts.split_first() {
        Some(split) => split,
        None => return name.is_empty(),
    };
    let Some(mut left) = name.strip_prefix(first) else {
        return false;
    };
    let Some((last, middle)) = rest.split_last() else {
        return left.is_empty(); // no '*': the whole name
    };
    for part in middle {
        match left.find(part) {
            Some(i) => left = &left[i + part.len()..],
            None => return false,
        }
    }
    left.len() >= last.len() && left.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn globs() {
        assert!(glob_match("*.json", "a.json"));
        assert!(glob_match("*.json", ".json"));
        assert!(!glob_match("*.json", "a.json.swp"));
        assert!(glob_match("t-*-x.yml", "t-1-x.yml"));
        assert!(!glob_match("t-*-x.yml", "t-1.yml"));
        assert!(glob_match("a*b*c", "abc"));
        assert!(glob_match("a*b*c", "axxbyyc"));
        assert!(!glob_match("a*bc", "abc-"));
        assert!(glob_match("exact.json", "exact.json"));
        assert!(!glob_match("exact.json", "exact.jsonx"));
        assert!(!glob_match("ab*ba", "aba"));
    }
}
