//! What a bench run measured: HDR histograms of step and push latency, counters, the final
//! table and the JSON file (`--json`) that CI and BENCHMARKS.md read.

use hdrhistogram::Histogram;
use serde::Serialize;
use std::time::Duration;

/// Latencies are recorded in microseconds, up to one hour, with 3 significant digits.
fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("static histogram bounds are valid")
}

/// Everything counted during a run; shared by the workflows behind one mutex.
#[derive(Debug)]
pub struct Tally {
    pub step: Histogram<u64>,
    pub push: Histogram<u64>,
    pub workflows: u64,
    pub failed: u64,
    pub lost: u64,
    /// Customers whose events broke once-and-in-order (printed for the first few only).
    pub broken_streams: u64,
}

impl Default for Tally {
    fn default() -> Self {
        Self {
            step: histogram(),
            push: histogram(),
            workflows: 0,
            failed: 0,
            lost: 0,
            broken_streams: 0,
        }
    }
}

impl Tally {
    pub fn record_step(&mut self, latency: Duration) {
        self.step.saturating_record(micros(latency));
    }

    pub fn record_push(&mut self, latency: Duration) {
        self.push.saturating_record(micros(latency));
    }

    /// The report of a run that lasted `elapsed`.
    pub fn report(&self, mode: &str, rate: f64, elapsed: Duration) -> Report {
        let secs = elapsed.as_secs_f64().max(f64::EPSILON);
        Report {
            mode: mode.to_owned(),
            rate,
            elapsed_s: round(secs),
            workflows: self.workflows,
            steps: self.step.len(),
            steps_per_s: round(self.step.len() as f64 / secs),
            step_ms: Percentiles::of(&self.step),
            push_ms: Percentiles::of(&self.push),
            lost: self.lost,
            failed: self.failed,
            connections: None,
        }
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1)
}

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

impl Percentiles {
    pub fn of(h: &Histogram<u64>) -> Self {
        let ms = |us: u64| round(us as f64 / 1000.0);
        Self {
            p50: ms(h.value_at_quantile(0.50)),
            p95: ms(h.value_at_quantile(0.95)),
            p99: ms(h.value_at_quantile(0.99)),
            max: ms(h.max()),
        }
    }
}

/// What `--connections N --hold S` measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConnectionsReport {
    pub opened: u64,
    pub failed: u64,
    pub open_per_s: f64,
    /// Growth of the resident memory of the processes holding the sockets (the server, or the
    /// gateways together) per open connection, when their pids are known.
    pub server_kib_per_connection: Option<f64>,
}

/// The JSON written by `--json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub mode: String,
    /// Steps per second asked for.
    pub rate: f64,
    pub elapsed_s: f64,
    pub workflows: u64,
    pub steps: u64,
    /// Steps answered per second.
    pub steps_per_s: f64,
    /// From a step's intended send time to its HTTP answer.
    pub step_ms: Percentiles,
    /// From a step's HTTP answer to its event's WebSocket frame.
    pub push_ms: Percentiles,
    /// Events that never arrived (or arrived out of order).
    pub lost: u64,
    /// Workflows that did not complete.
    pub failed: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connections: Option<ConnectionsReport>,
}

impl Report {
    /// Whether the run found nothing wrong (the exit status).
    pub fn passed(&self) -> bool {
        self.lost == 0 && self.failed == 0
    }

    /// The human table printed at the end.
    pub fn table(&self) -> String {
        let row = |name: &str, p: &Percentiles| {
            format!(
                "{name:<6} p50 {:>9.2}  p95 {:>9.2}  p99 {:>9.2}  max {:>9.2}  ms\n",
                p.p50, p.p95, p.p99, p.max
            )
        };
        let mut out = format!(
            "mode {}  rate {}/s  elapsed {:.1} s  workflows {}  steps {}  steps/s {:.1}\n",
            self.mode, self.rate, self.elapsed_s, self.workflows, self.steps, self.steps_per_s
        );
        if self.steps > 0 {
            out += &row("step", &self.step_ms);
            out += &row("push", &self.push_ms);
        }
        if let Some(c) = &self.connections {
            out += &format!(
                "connections opened {}  failed {}  open/s {:.1}  server KiB/connection {}\n",
                c.opened,
                c.failed,
                c.open_per_s,
                c.server_kib_per_connection
                    .map_or_else(|| "unknown".to_owned(), |k| format!("{k:.1}"))
            );
        }
        out += &format!("lost {}  failed {}\n", self.lost, self.failed);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_json_has_rate_percentiles_lost_and_failed() {
        let mut tally = Tally::default();
        for ms in 1..=100 {
            tally.record_step(Duration::from_millis(ms));
            tally.record_push(Duration::from_millis(2 * ms));
        }
        tally.workflows = 20;
        tally.lost = 1;
        let report = tally.report("workflow", 50.0, Duration::from_secs(2));
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["steps_per_s"], 50.0);
        assert_eq!(json["steps"], 100);
        for key in ["step_ms", "push_ms"] {
            for p in ["p50", "p95", "p99", "max"] {
                assert!(json[key][p].is_f64(), "{key}.{p} in {json}");
            }
        }
        // Three significant digits: 50 ms is recorded within 0.1 %.
        assert!((json["step_ms"]["p50"].as_f64().unwrap() - 50.0).abs() < 0.1);
        assert!((json["push_ms"]["max"].as_f64().unwrap() - 200.0).abs() < 0.2);
        assert_eq!(json["lost"], 1);
        assert_eq!(json["failed"], 0);
        assert!(json.get("connections").is_none());
        assert!(!report.passed());
    }

    #[test]
    fn a_run_without_losses_or_failures_passes() {
        let report = Tally::default().report("connections", 0.0, Duration::from_secs(1));
        assert!(report.passed());
        assert!(report.table().contains("lost 0  failed 0"));
    }
}
