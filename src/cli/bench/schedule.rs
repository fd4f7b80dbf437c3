//! The open-loop schedule: when each workflow and each of its steps is *meant* to be sent,
//! fixed before the run and independent of the server's answer times. Latency is measured from
//! these intended times, so a slow answer is charged to every request it delayed (no
//! coordinated omission).

use std::time::Duration;

/// Steps in one customer workflow (register, upload, KYC, recommendation, complete).
pub const STEPS_PER_WORKFLOW: u32 = 5;

#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    /// Steps per second over all customers.
    pub rate: f64,
    /// How long new workflows keep starting.
    pub duration: Duration,
    /// At most this many workflows (customers) in the run, when set.
    pub customers: Option<u64>,
    /// A customer's pause between the intended times of two of its steps.
    pub think: Duration,
}

impl Schedule {
    /// New workflows per second: each brings [`STEPS_PER_WORKFLOW`] steps.
    fn workflows_per_s(&self) -> f64 {
        self.rate / f64::from(STEPS_PER_WORKFLOW)
    }

    /// How many workflows the run starts.
    pub fn workflows(&self) -> u64 {
        let by_time = (self.duration.as_secs_f64() * self.workflows_per_s()).ceil() as u64;
        self.customers.map_or(by_time, |cap| cap.min(by_time))
    }

    /// Intended start of workflow `i`, from the start of the run.
    pub fn workflow_start(&self, i: u64) -> Duration {
        Duration::from_secs_f64(i as f64 / self.workflows_per_s())
    }

    /// Intended send time of step `k` (from 0) of workflow `i`, from the start of the run.
    pub fn step_at(&self, i: u64, k: u32) -> Duration {
        self.workflow_start(i) + self.think * k
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(rate: f64, secs: u64) -> Schedule {
        Schedule {
            rate,
            duration: Duration::from_secs(secs),
            customers: None,
            think: Duration::from_millis(100),
        }
    }

    #[test]
    fn workflows_start_evenly_at_a_fifth_of_the_step_rate() {
        let s = schedule(100.0, 10);
        assert_eq!(s.workflows(), 200);
        assert_eq!(s.workflow_start(0), Duration::ZERO);
        assert_eq!(s.workflow_start(1), Duration::from_millis(50));
        assert_eq!(s.workflow_start(20), Duration::from_secs(1));
    }

    #[test]
    fn the_steps_intended_in_any_second_match_the_rate() {
        let s = schedule(250.0, 20);
        let in_second = |second: u64| {
            (0..s.workflows())
                .flat_map(|i| (0..STEPS_PER_WORKFLOW).map(move |k| (i, k)))
                .filter(|&(i, k)| s.step_at(i, k).as_secs() == second)
                .count()
        };
        for second in [1, 7, 15] {
            assert_eq!(in_second(second), 250, "second {second}");
        }
    }

    #[test]
    fn steps_of_a_workflow_are_spaced_by_the_think_time_whatever_the_answers() {
        let s = schedule(10.0, 1);
        assert_eq!(s.step_at(1, 0), Duration::from_millis(500));
        assert_eq!(s.step_at(1, 4), Duration::from_millis(900));
    }

    #[test]
    fn customers_caps_the_number_of_workflows() {
        let mut s = schedule(1000.0, 60);
        s.customers = Some(7);
        assert_eq!(s.workflows(), 7);
    }
}
