//! Route faults of the API server: which scenario faults a request matches, counting the
//! `times` budget of each, and what the request then suffers.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::scenario::Fault;

/// The scenario's faults with a counter each.
pub struct Faults {
    faults: Vec<(Fault, AtomicU32)>,
}

/// What the faults matching one request ask for.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Effects {
    pub latency: Duration,
    pub status: Option<u16>,
    pub drop_watch_after_events: Option<usize>,
    pub close_after_bytes: Option<u64>,
}

impl Faults {
    pub fn new(faults: &[Fault]) -> Self {
        Self {
            faults: faults
                .iter()
                .map(|f| (f.clone(), AtomicU32::new(0)))
                .collect(),
        }
    }

    /// The combined effects of every fault matching this request. A fault with a `times`
    /// budget counts this request against it.
    pub fn effects(&self, method: &str, path: &str, is_watch: bool) -> Effects {
        let mut effects = Effects::default();
        for (fault, fired) in &self.faults {
            if !path.starts_with(&fault.path)
                || fault
                    .method
                    .as_ref()
                    .is_some_and(|m| !m.eq_ignore_ascii_case(method))
                || fault.watch.is_some_and(|w| w != is_watch)
            {
                continue;
            }
            if let Some(n) = fault.times
                && fired.fetch_add(1, Ordering::SeqCst) >= n
            {
                continue;
            }
            effects.latency += Duration::from_millis(fault.latency_ms);
            effects.status = effects.status.or(fault.status);
            effects.drop_watch_after_events = effects
                .drop_watch_after_events
                .or(fault.drop_watch_after_events);
            effects.close_after_bytes = effects.close_after_bytes.or(fault.close_after_bytes);
        }
        effects
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fault_with_times_fires_that_often() {
        let faults = Faults::new(&[Fault::path("/api/v1/namespaces").status(500).times(2)]);
        let hits: Vec<Option<u16>> = (0..3)
            .map(|_| faults.effects("GET", "/api/v1/namespaces/x", false).status)
            .collect();
        assert_eq!(hits, [Some(500), Some(500), None]);
        assert_eq!(faults.effects("GET", "/apis", false), Effects::default());
    }

    #[test]
    fn watch_only_faults_skip_lists() {
        let faults = Faults::new(&[Fault::path("/").watch(true).drop_watch_after_events(1)]);
        assert_eq!(
            faults
                .effects("GET", "/api/v1/pods", false)
                .drop_watch_after_events,
            None
        );
        assert_eq!(
            faults
                .effects("GET", "/api/v1/pods", true)
                .drop_watch_after_events,
            Some(1)
        );
    }
}
