//! The local process via procfs: RSS, CPU %, threads and open fds from `/proc/PID`, and the
//! memory and CPU of the process's cgroup (v1, v2 or hybrid) from `/sys/fs/cgroup`.
//!
//! A process is selected by PID or by name. A name is resolved to the oldest process whose
//! `comm`, executable base name or `argv[0]` base name equals it; when that process exits, the
//! probe reports it and resolves the name again on the next call (a restarted service has a new
//! PID). CPU percentages are deltas between two calls, so the first call has none.

use super::ProbeError;
use leakhound_core::config::ProcessSelector;
use leakhound_core::Metrics;
use procfs::process::{Process, Stat};
use procfs::{ProcError, ProcessCGroup};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Where cgroup hierarchies are mounted on every distribution leakhound knows of.
const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// cgroup v1 reports "no limit" as a page-counter maximum (9223372036854771712 with 4 KiB pages,
/// a little less with bigger pages). Anything at or above 4 EiB is no limit.
const V1_UNLIMITED: u64 = 1 << 62;

/// Reads one local process (found by PID or by name) and its cgroup.
#[derive(Debug)]
pub struct ProcessProbe {
    selector: ProcessSelector,
    /// The process being followed, once found: PID and start time (to notice PID reuse).
    tracked: Option<(i32, u64)>,
    /// The previous reading of the process CPU: (pid, start time, when, utime + stime ticks).
    prev_cpu: Option<(i32, u64, Instant, u64)>,
    /// The previous reading of the cgroup CPU: (file it came from, when, usage in ns).
    prev_cgroup_cpu: Option<(PathBuf, Instant, u64)>,
    cgroup_root: PathBuf,
}

impl ProcessProbe {
    pub fn new(selector: ProcessSelector) -> ProcessProbe {
        ProcessProbe {
            selector,
            tracked: None,
            prev_cpu: None,
            prev_cgroup_cpu: None,
            cgroup_root: PathBuf::from(CGROUP_ROOT),
        }
    }

    /// The PID being followed, once the process was found.
    pub fn pid(&self) -> Option<u32> {
        self.tracked.and_then(|(pid, _)| u32::try_from(pid).ok())
    }

    /// Read the process now (a few procfs reads; call from a blocking-safe context).
    pub fn probe(&mut self) -> Result<Metrics, ProbeError> {
        let (process, stat, now) = self.resolve()?;
        let pid = process.pid();
        let ticks = stat.utime.saturating_add(stat.stime);
        let cpu_percent = match self.prev_cpu {
            Some((p, start, then, before)) if p == pid && start == stat.starttime => {
                ticks.checked_sub(before).and_then(|d| {
                    percent(
                        d,
                        procfs::ticks_per_second() as f64,
                        now.duration_since(then),
                    )
                })
            }
            _ => None,
        };
        self.prev_cpu = Some((pid, stat.starttime, now, ticks));

        // Another user's process hides its fd table unless the agent may ptrace it: the
        // other numbers are still worth having, so the fd count is just left out.
        let open_fds = match process.fd_count() {
            Ok(n) => Some(n as u64),
            Err(ProcError::NotFound(_)) => return Err(self.vanished(pid)),
            Err(_) => None,
        };

        let mut metrics = Metrics {
            rss_bytes: Some(stat.rss.saturating_mul(procfs::page_size())),
            cpu_percent,
            threads: u64::try_from(stat.num_threads).ok(),
            open_fds,
            ..Metrics::default()
        };

        // No cgroup data (no /proc/PID/cgroup, nothing mounted, a root cgroup without files)
        // is not an error: those fields stay empty.
        let Ok(groups) = process.cgroups() else {
            self.prev_cgroup_cpu = None;
            return Ok(metrics);
        };
        let cgroup = read_cgroup(&self.cgroup_root, &groups.0);
        metrics.cgroup_memory_bytes = cgroup.memory_bytes;
        metrics.cgroup_memory_limit_bytes = cgroup.memory_limit_bytes;
        let cgroup_now = Instant::now();
        metrics.cgroup_cpu_percent = match (&self.prev_cgroup_cpu, &cgroup.cpu_usage) {
            (Some((file, then, before)), Some((now_file, usage))) if file == now_file => usage
                .checked_sub(*before)
                .and_then(|d| percent(d, 1e9, cgroup_now.duration_since(*then))),
            _ => None,
        };
        self.prev_cgroup_cpu = cgroup
            .cpu_usage
            .map(|(file, usage)| (file, cgroup_now, usage));
        Ok(metrics)
    }

    /// The process to read now, with its stat and the instant the stat was read.
    fn resolve(&mut self) -> Result<(Process, Stat, Instant), ProbeError> {
        let pid = match (&self.selector, self.tracked) {
            (_, Some((pid, _))) => pid,
            (ProcessSelector::Pid(pid), None) => i32::try_from(*pid).map_err(|_| {
                ProbeError::Process(format!(
                    "pid {pid} is out of range (Linux PIDs are at most 4194304); check it with 'ps -e'"
                ))
            })?,
            (ProcessSelector::Name(name), None) => find_by_name(name)?,
        };
        let read = Process::new(pid).and_then(|p| {
            let stat = p.stat()?;
            Ok((p, stat, Instant::now()))
        });
        let (process, stat, now) = match read {
            Ok(found) => found,
            Err(ProcError::NotFound(_)) => return Err(self.vanished(pid)),
            Err(e) => {
                return Err(ProbeError::Process(format!(
                    "cannot read /proc/{pid}/stat: {e}; check that /proc is mounted and readable by the agent"
                )))
            }
        };
        // A zombie has exited; a different start time means the PID was reused by another
        // process. Either way the process we followed is gone.
        let reused = self
            .tracked
            .is_some_and(|(p, start)| p == pid && start != stat.starttime);
        let reused = reused && matches!(self.selector, ProcessSelector::Name(_));
        if matches!(stat.state, 'Z' | 'X' | 'x') || reused {
            return Err(self.vanished(pid));
        }
        self.tracked = Some((pid, stat.starttime));
        Ok((process, stat, now))
    }

    /// The process we followed is gone: forget it (a name is resolved again next time) and say so.
    fn vanished(&mut self, pid: i32) -> ProbeError {
        self.tracked = None;
        self.prev_cpu = None;
        self.prev_cgroup_cpu = None;
        ProbeError::Process(match &self.selector {
            ProcessSelector::Pid(_) => format!(
                "process {pid} is not running (it exited or was restarted); check it with 'ps -p {pid}', \
                 give the new pid, or select it by name (process = \"NAME\") so leakhound follows restarts"
            ),
            ProcessSelector::Name(name) => format!(
                "process {pid} is not running (it exited or was restarted); leakhound looks for a \
                 process named '{name}' again on the next probe; check it with 'ps -e'"
            ),
        })
    }
}

/// `delta` units (at `per_second` units per second) over `wall`, in percent of one core.
fn percent(delta: u64, per_second: f64, wall: Duration) -> Option<f64> {
    let secs = wall.as_secs_f64();
    (secs > 0.0).then(|| delta as f64 / per_second / secs * 100.0)
}

/// The oldest running process whose comm, executable base name or argv[0] base name is `name`.
fn find_by_name(name: &str) -> Result<i32, ProbeError> {
    let all = procfs::process::all_processes().map_err(|e| {
        ProbeError::Process(format!(
            "cannot list processes in /proc ({e}); check that /proc is mounted, or give pid = N"
        ))
    })?;
    let mut best: Option<(u64, i32)> = None;
    for process in all.flatten() {
        let Ok(stat) = process.stat() else { continue };
        if matches!(stat.state, 'Z' | 'X' | 'x') {
            continue;
        }
        if !(stat.comm == name || exe_names_match(&process, name)) {
            continue;
        }
        let key = (stat.starttime, process.pid());
        if best.is_none_or(|b| key < b) {
            best = Some(key);
        }
    }
    best.map(|(_, pid)| pid).ok_or_else(|| {
        ProbeError::Process(format!(
            "no process named '{name}' is running; check the name with 'ps -e' or give pid = N"
        ))
    })
}

/// Whether the executable (`/proc/PID/exe`) or `argv[0]` has the base name `name`.
fn exe_names_match(process: &Process, name: &str) -> bool {
    if let Ok(exe) = process.exe() {
        let base = exe.file_name().map(|b| b.to_string_lossy());
        // A binary replaced on disk while running (a deploy) reads "name (deleted)".
        if base.is_some_and(|b| b.strip_suffix(" (deleted)").unwrap_or(&b) == name) {
            return true;
        }
    }
    process.cmdline().is_ok_and(|args| {
        args.first()
            .and_then(|arg0| arg0.rsplit('/').next())
            .is_some_and(|base| base == name)
    })
}

/// What the process's cgroup reports. Every field is optional: a root cgroup, an unmounted
/// controller or a missing file just leaves it empty.
#[derive(Debug, Default, Clone, PartialEq)]
struct CgroupReading {
    memory_bytes: Option<u64>,
    /// `None` when unlimited (v2 "max", v1 a page-counter maximum).
    memory_limit_bytes: Option<u64>,
    /// Cumulative CPU in nanoseconds, with the file it came from (a change of file restarts
    /// the delta).
    cpu_usage: Option<(PathBuf, u64)>,
}

/// Read the cgroup of a process whose `/proc/PID/cgroup` lines are `groups`, with the
/// hierarchies mounted under `root` (normally `/sys/fs/cgroup`):
/// - v1 (and the v1 side of hybrid): a `N:memory:/path` line reads `root/memory/path/`
///   `memory.usage_in_bytes` and `memory.limit_in_bytes`; a line naming `cpuacct` reads
///   `cpuacct.usage` under `root/cpu,cpuacct/path` or `root/cpuacct/path`.
/// - v2: the `0::/path` line reads `memory.current`, `memory.max` and `cpu.stat`
///   (`usage_usec`) under `root/path` (unified mode, `root/cgroup.controllers` exists) or
///   `root/unified/path` (hybrid mode). v1 controllers win where both exist.
fn read_cgroup(root: &Path, groups: &[ProcessCGroup]) -> CgroupReading {
    let v1 = |controller: &str| {
        groups
            .iter()
            .filter(|g| g.hierarchy != 0 && g.controllers.iter().any(|c| c == controller))
            .flat_map(|g| {
                std::iter::once(g.controllers.join(","))
                    .chain(g.controllers.iter().cloned())
                    .map(|mount| (root.join(mount), g.pathname.clone()))
            })
            .collect::<Vec<_>>()
    };
    let v2_root = if root.join("cgroup.controllers").is_file() {
        Some(root.to_path_buf())
    } else {
        let hybrid = root.join("unified");
        hybrid
            .join("cgroup.controllers")
            .is_file()
            .then_some(hybrid)
    };
    let v2 = groups
        .iter()
        .filter(|g| g.hierarchy == 0 && g.controllers.is_empty())
        .filter_map(|g| Some((v2_root.clone()?, g.pathname.clone())))
        .collect::<Vec<_>>();

    let mut reading = CgroupReading::default();
    if let Some(dir) = first_with(&v1("memory"), "memory.usage_in_bytes") {
        reading.memory_bytes = read_u64(&dir.join("memory.usage_in_bytes"));
        reading.memory_limit_bytes =
            read_u64(&dir.join("memory.limit_in_bytes")).filter(|&l| l < V1_UNLIMITED);
    } else if let Some(dir) = first_with(&v2, "memory.current") {
        reading.memory_bytes = read_u64(&dir.join("memory.current"));
        // "max" is no limit and does not parse as a number.
        reading.memory_limit_bytes = read_u64(&dir.join("memory.max"));
    }
    if let Some(dir) = first_with(&v1("cpuacct"), "cpuacct.usage") {
        let file = dir.join("cpuacct.usage");
        reading.cpu_usage = read_u64(&file).map(|ns| (file, ns));
    } else if let Some(dir) = first_with(&v2, "cpu.stat") {
        let file = dir.join("cpu.stat");
        reading.cpu_usage = std::fs::read_to_string(&file)
            .ok()
            .and_then(|text| {
                text.lines().find_map(|l| {
                    l.strip_prefix("usage_usec ")
                        .and_then(|v| v.trim().parse::<u64>().ok())
                })
            })
            .map(|usec| (file, usec.saturating_mul(1000)));
    }
    reading
}

/// The first cgroup directory among `candidates` (mount, path in the hierarchy) that holds
/// `file`. When a path is not there at all, the mount is taken to show a sub-tree (a container
/// without a cgroup namespace sees its own cgroup as the mount root), so shorter tails of the
/// path are tried, down to the mount itself.
fn first_with(candidates: &[(PathBuf, String)], file: &str) -> Option<PathBuf> {
    candidates.iter().find_map(|(mount, path)| {
        let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        // `/../..` means the cgroup lies outside the part of the hierarchy this agent can see
        // (another cgroup namespace): no data rather than a wrong directory.
        if parts.contains(&"..") {
            return None;
        }
        let full = parts.iter().fold(mount.clone(), |dir, p| dir.join(p));
        if full.is_dir() {
            return full.join(file).is_file().then_some(full);
        }
        (1..=parts.len())
            .map(|skip| {
                parts[skip..]
                    .iter()
                    .fold(mount.clone(), |dir, p| dir.join(p))
            })
            .find(|dir| dir.is_dir())
            .filter(|dir| dir.join(file).is_file())
    })
}

fn read_u64(path: &Path) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use procfs::FromBufRead;
    use std::fs;
    use std::process::{Child, Command};

    fn groups(text: &str) -> Vec<ProcessCGroup> {
        procfs::ProcessCGroups::from_buf_read(text.as_bytes())
            .unwrap()
            .0
    }

    fn write(root: &Path, rel: &str, content: &str) {
        let path = root.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, content).unwrap();
    }

    /// This machine's layout: hybrid, with cpu and cpuacct mounted apart.
    const HYBRID: &str = "9:name=systemd:/\n8:pids:/\n4:memory:/svc/api\n2:cpuacct:/svc/api\n1:cpu:/svc/api\n0::/svc/api\n";

    #[test]
    fn cgroup_v1_hybrid_separate_cpuacct() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "memory/svc/api/memory.usage_in_bytes", "8114176\n");
        write(root, "memory/svc/api/memory.limit_in_bytes", "536870912\n");
        write(root, "cpuacct/svc/api/cpuacct.usage", "2000000000\n");
        write(root, "unified/cgroup.controllers", "");
        write(root, "unified/svc/api/cpu.stat", "usage_usec 7\n");
        let r = read_cgroup(root, &groups(HYBRID));
        assert_eq!(r.memory_bytes, Some(8114176));
        assert_eq!(r.memory_limit_bytes, Some(536870912));
        // v1 cpuacct wins over the unified hierarchy's cpu.stat.
        assert_eq!(
            r.cpu_usage,
            Some((root.join("cpuacct/svc/api/cpuacct.usage"), 2_000_000_000))
        );
    }

    #[test]
    fn cgroup_v1_combined_cpu_cpuacct_and_unlimited() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "memory/docker/abc/memory.usage_in_bytes", "1048576\n");
        write(
            root,
            "memory/docker/abc/memory.limit_in_bytes",
            "9223372036854771712\n",
        );
        write(root, "cpu,cpuacct/docker/abc/cpuacct.usage", "123\n");
        let text = "5:memory:/docker/abc\n3:cpu,cpuacct:/docker/abc\n";
        let r = read_cgroup(root, &groups(text));
        assert_eq!(r.memory_bytes, Some(1048576));
        assert_eq!(
            r.memory_limit_bytes, None,
            "v1 page-counter max is no limit"
        );
        assert_eq!(
            r.cpu_usage,
            Some((root.join("cpu,cpuacct/docker/abc/cpuacct.usage"), 123))
        );
    }

    #[test]
    fn cgroup_v1_cpuacct_reached_through_single_controller_dir() {
        // Only the `cpuacct` symlink exists, not `cpu,cpuacct`.
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "cpuacct/a/cpuacct.usage", "55\n");
        let r = read_cgroup(root, &groups("3:cpu,cpuacct:/a\n"));
        assert_eq!(
            r.cpu_usage,
            Some((root.join("cpuacct/a/cpuacct.usage"), 55))
        );
        assert_eq!(r.memory_bytes, None);
    }

    #[test]
    fn cgroup_v2_unified_with_max_and_with_limit() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "cgroup.controllers", "cpu memory io\n");
        write(root, "system.slice/api.service/memory.current", "4096\n");
        write(root, "system.slice/api.service/memory.max", "max\n");
        write(
            root,
            "system.slice/api.service/cpu.stat",
            "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n",
        );
        let text = "0::/system.slice/api.service\n";
        let r = read_cgroup(root, &groups(text));
        assert_eq!(r.memory_bytes, Some(4096));
        assert_eq!(r.memory_limit_bytes, None, "\"max\" is no limit");
        assert_eq!(
            r.cpu_usage,
            Some((root.join("system.slice/api.service/cpu.stat"), 1_500_000))
        );

        write(root, "system.slice/api.service/memory.max", "268435456\n");
        let r = read_cgroup(root, &groups(text));
        assert_eq!(r.memory_limit_bytes, Some(268435456));
    }

    #[test]
    fn cgroup_hybrid_falls_back_to_unified_cpu() {
        // A v1 memory controller but no v1 cpuacct mount: CPU comes from unified/cpu.stat.
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "memory/x/memory.usage_in_bytes", "10\n");
        write(root, "unified/cgroup.controllers", "");
        write(root, "unified/x/cpu.stat", "usage_usec 3\n");
        let r = read_cgroup(root, &groups("4:memory:/x\n0::/x\n"));
        assert_eq!(r.memory_bytes, Some(10));
        assert_eq!(r.memory_limit_bytes, None, "missing limit file is no data");
        assert_eq!(r.cpu_usage, Some((root.join("unified/x/cpu.stat"), 3000)));
    }

    #[test]
    fn cgroup_root_process() {
        // v2 root cgroup: the root has no memory.current / memory.max; cpu.stat exists.
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "cgroup.controllers", "cpu memory\n");
        write(root, "cpu.stat", "usage_usec 9\n");
        let r = read_cgroup(root, &groups("0::/\n"));
        assert_eq!(r.memory_bytes, None);
        assert_eq!(r.memory_limit_bytes, None);
        assert_eq!(r.cpu_usage, Some((root.join("cpu.stat"), 9000)));

        // v1 root cgroup: usage present, limit is the unlimited maximum.
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "memory/memory.usage_in_bytes", "294473728\n");
        write(
            root,
            "memory/memory.limit_in_bytes",
            "9223372036854771712\n",
        );
        let r = read_cgroup(root, &groups("4:memory:/\n2:cpuacct:/\n"));
        assert_eq!(r.memory_bytes, Some(294473728));
        assert_eq!(r.memory_limit_bytes, None);
        assert_eq!(r.cpu_usage, None, "no cpuacct mount is no data");
    }

    #[test]
    fn cgroup_missing_everything_is_no_data() {
        let dir = tempfile::tempdir().unwrap();
        let r = read_cgroup(dir.path(), &groups(HYBRID));
        assert_eq!(r, CgroupReading::default());
        let r = read_cgroup(dir.path(), &groups(""));
        assert_eq!(r, CgroupReading::default());
        // Garbage in a file is no data too.
        write(dir.path(), "memory/svc/api/memory.usage_in_bytes", "lots\n");
        let r = read_cgroup(dir.path(), &groups(HYBRID));
        assert_eq!(r.memory_bytes, None);
    }

    #[test]
    fn cgroup_container_sees_its_own_cgroup_as_mount_root() {
        // Docker on v1 without a cgroup namespace: /proc/PID/cgroup names /docker/abc, but the
        // mount shows that cgroup itself.
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "memory/memory.usage_in_bytes", "77\n");
        write(root, "memory/memory.limit_in_bytes", "1000\n");
        let r = read_cgroup(root, &groups("4:memory:/docker/abc\n"));
        assert_eq!(r.memory_bytes, Some(77));
        assert_eq!(r.memory_limit_bytes, Some(1000));
    }

    #[test]
    fn cgroup_outside_our_namespace_is_no_data() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "cgroup.controllers", "memory\n");
        write(root, "memory.current", "1\n");
        let r = read_cgroup(root, &groups("0::/../../system.slice/x.service\n"));
        assert_eq!(r, CgroupReading::default());
    }

    #[test]
    fn percent_of_one_core() {
        assert_eq!(percent(50, 100.0, Duration::from_secs(1)), Some(50.0));
        assert_eq!(
            percent(2_000_000_000, 1e9, Duration::from_secs(1)),
            Some(200.0)
        );
        assert_eq!(percent(5, 100.0, Duration::ZERO), None);
    }

    /// Probes the test process itself: real procfs, real cgroup of this machine.
    #[test]
    fn probes_own_process() {
        let mut probe = ProcessProbe::new(ProcessSelector::Pid(std::process::id()));
        let first = probe.probe().unwrap();
        eprintln!("own process, first probe: {first:?}");
        assert!(first.rss_bytes.unwrap() > 0);
        assert!(first.threads.unwrap() >= 1);
        assert!(first.open_fds.unwrap() >= 3);
        assert_eq!(first.cpu_percent, None, "no CPU % before a second reading");
        assert_eq!(first.cgroup_cpu_percent, None);

        // Burn some CPU so the delta is visible.
        let start = Instant::now();
        let mut x = 0u64;
        while start.elapsed() < Duration::from_millis(200) {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
        let second = probe.probe().unwrap();
        eprintln!("own process, second probe: {second:?}");
        let cpu = second.cpu_percent.unwrap();
        assert!(cpu > 0.0 && cpu.is_finite(), "cpu {cpu}");

        let groups = Process::myself().unwrap().cgroups().unwrap();
        let expected = read_cgroup(Path::new(CGROUP_ROOT), &groups.0);
        if expected.memory_bytes.is_some() {
            assert!(second.cgroup_memory_bytes.unwrap() > 0);
        }
        if let Some(limit) = second.cgroup_memory_limit_bytes {
            assert!(limit < V1_UNLIMITED);
        }
        if expected.cpu_usage.is_some() {
            assert!(second.cgroup_cpu_percent.unwrap() >= 0.0);
        }
    }

    fn sleep_binary() -> PathBuf {
        ["/usr/bin/sleep", "/bin/sleep"]
            .iter()
            .map(PathBuf::from)
            .find(|p| p.is_file())
            .unwrap()
    }

    /// Spawns `program 30` and waits until it has started up and sleeps (right after exec a
    /// process has an empty address space: RSS 0).
    fn spawn_sleep(program: &Path) -> Killed {
        let child = Killed(Command::new(program).arg("30").spawn().unwrap());
        let deadline = Instant::now() + Duration::from_secs(5);
        let process = Process::new(child.0.id() as i32).unwrap();
        while Instant::now() < deadline {
            let stat = process.stat().unwrap();
            if stat.state == 'S' && stat.rss > 0 {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        child
    }

    struct Killed(Child);
    impl Drop for Killed {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    #[test]
    fn finds_sleep_by_pid_and_name() {
        let child = spawn_sleep(&sleep_binary());
        let pid = child.0.id();

        let mut by_pid = ProcessProbe::new(ProcessSelector::Pid(pid));
        let first = by_pid.probe().unwrap();
        assert_eq!(first.cpu_percent, None);
        assert_eq!(first.threads, Some(1));
        assert!(first.rss_bytes.unwrap() > 0);
        std::thread::sleep(Duration::from_millis(200));
        let second = by_pid.probe().unwrap();
        let cpu = second.cpu_percent.unwrap();
        assert!((0.0..5.0).contains(&cpu), "sleep uses no CPU, got {cpu}");

        // By name: a symlink gives this sleep a name no other process has (other `sleep`s come
        // and go on a busy machine, and the oldest of them would win).
        let dir = tempfile::tempdir().unwrap();
        let name = format!("lhn{}", std::process::id());
        let link = dir.path().join(&name);
        std::os::unix::fs::symlink(sleep_binary(), &link).unwrap();
        let named = spawn_sleep(&link);
        let mut by_name = ProcessProbe::new(ProcessSelector::Name(name));
        by_name.probe().unwrap();
        assert_eq!(by_name.pid(), Some(named.0.id()));
        std::thread::sleep(Duration::from_millis(50));
        assert!(by_name.probe().unwrap().cpu_percent.is_some());
    }

    #[test]
    fn name_follows_a_restart() {
        // A symlink gives the process a unique comm, so no other process can match.
        let dir = tempfile::tempdir().unwrap();
        let name = format!("lhs{}", std::process::id());
        let link = dir.path().join(&name);
        std::os::unix::fs::symlink(sleep_binary(), &link).unwrap();

        let mut first = spawn_sleep(&link);
        let mut probe = ProcessProbe::new(ProcessSelector::Name(name.clone()));
        probe.probe().unwrap();
        assert_eq!(probe.pid(), Some(first.0.id()));
        let old = first.0.id();
        first.0.kill().unwrap();
        first.0.wait().unwrap();

        let second = spawn_sleep(&link);
        let err = probe.probe().unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "process {old} is not running (it exited or was restarted); leakhound looks for a \
                 process named '{name}' again on the next probe; check it with 'ps -e'"
            )
        );
        probe.probe().unwrap();
        assert_eq!(probe.pid(), Some(second.0.id()));
    }

    #[test]
    fn vanished_pid_names_pid_and_fix() {
        let mut child = Command::new(sleep_binary()).arg("30").spawn().unwrap();
        let pid = child.id();
        child.kill().unwrap();
        child.wait().unwrap();
        let err = ProcessProbe::new(ProcessSelector::Pid(pid))
            .probe()
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "process {pid} is not running (it exited or was restarted); check it with \
                 'ps -p {pid}', give the new pid, or select it by name (process = \"NAME\") so \
                 leakhound follows restarts"
            )
        );
    }

    #[test]
    fn unknown_name_names_it_and_the_fix() {
        let err = ProcessProbe::new(ProcessSelector::Name("no-such-leakhound-svc".into()))
            .probe()
            .unwrap_err();
        assert_eq!(
            err,
            ProbeError::Process(
                "no process named 'no-such-leakhound-svc' is running; check the name with \
                 'ps -e' or give pid = N"
                    .into()
            )
        );
    }
}
