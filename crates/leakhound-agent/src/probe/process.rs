//! The local process via procfs. (Being written: RSS, CPU %, threads, fds, cgroup v1/v2.)

use super::ProbeError;
use leakhound_core::config::ProcessSelector;
use leakhound_core::Metrics;

/// Reads one local process (found by PID or by name) and its cgroup.
#[derive(Debug)]
pub struct ProcessProbe {
    selector: ProcessSelector,
}

impl ProcessProbe {
    pub fn new(selector: ProcessSelector) -> ProcessProbe {
        ProcessProbe { selector }
    }

    /// Read the process now (a few procfs reads; call from a blocking-safe context).
    pub fn probe(&mut self) -> Result<Metrics, ProbeError> {
        Err(ProbeError::Process(format!(
            "process probe for {:?} not built yet",
            self.selector
        )))
    }
}
