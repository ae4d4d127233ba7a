//! Prometheus metrics in the text exposition format, hand-rolled on atomics (no registry crate:
//! a handful of series does not earn one).

use std::{
    fmt::Write,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use engine::Node;

use crate::{
    pool::{ClassCounts, DevicePool, Priority},
    sprint_job::SprintCounters,
};

/// Upper bounds of the latency buckets, in seconds.
const BOUNDS: [f64; 12] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];

/// A cumulative latency histogram.
#[derive(Default)]
struct Histogram {
    buckets: [AtomicU64; BOUNDS.len()],
    count: AtomicU64,
    sum_nanos: AtomicU64,
}

impl Histogram {
    fn observe(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        if let Some(i) = BOUNDS.iter().position(|&b| seconds <= b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_nanos.fetch_add(elapsed.as_nanos() as u64, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, route: &str) {
        let mut cumulative = 0;
        for (bound, bucket) in BOUNDS.iter().zip(&self.buckets) {
            cumulative += bucket.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{route=\"{route}\",le=\"{bound}\"}} {cumulative}");
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{route=\"{route}\",le=\"+Inf\"}} {count}");
        let _ =
            writeln!(out, "{name}_sum{{route=\"{route}\"}} {}", self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9);
        let _ = writeln!(out, "{name}_count{{route=\"{route}\"}} {count}");
    }
}

/// Which histogram a request lands in.
#[derive(Clone, Copy)]
pub(crate) enum Route {
    Graphql,
    Rest,
}

/// `value` as a Prometheus label value: backslash, double quote and newline escaped.
fn label_value(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// A family of per-class pool metrics: name, type, help, and the value of one class.
type MetricFamily = (&'static str, &'static str, &'static str, fn(&ClassCounts) -> f64);

/// The node's metrics.
pub(crate) struct Metrics {
    graphql: Histogram,
    rest: Histogram,
    rate_limited: AtomicU64,
    pool: Arc<DevicePool>,
    sprint: Arc<SprintCounters>,
    /// The focus solve's device (named at each scrape: a GPU that failed hands over to the CPU).
    focus_device: kernels::Device,
}

impl Metrics {
    pub(crate) fn new(pool: Arc<DevicePool>, sprint: Arc<SprintCounters>, focus_device: &kernels::Device) -> Self {
        Metrics {
            graphql: Histogram::default(),
            rest: Histogram::default(),
            rate_limited: AtomicU64::default(),
            pool,
            sprint,
            focus_device: focus_device.clone(),
        }
    }

    pub(crate) fn observe(&self, route: Route, elapsed: Duration) {
        match route {
            Route::Graphql => self.graphql.observe(elapsed),
            Route::Rest => self.rest.observe(elapsed),
        }
    }

    pub(crate) fn rate_limited(&self) {
        self.rate_limited.fetch_add(1, Ordering::Relaxed);
    }

    /// The exposition text.
    pub(crate) fn render(&self, node: &Node) -> String {
        let mut out = String::new();
        let name = "cybergraph_http_request_duration_seconds";
        let _ = writeln!(out, "# HELP {name} Request latency by route.\n# TYPE {name} histogram");
        self.graphql.render(&mut out, name, "graphql");
        self.rest.render(&mut out, name, "rest");
        let status = node.query().status();
        let focus = node.query().focus().summary;
        let model = node.query().served_model();
        let gauges = [
            ("cybergraph_block_height", "Height of the last committed block.", status.counts.height as f64),
            ("cybergraph_particles", "Particles with links.", status.counts.particles as f64),
            ("cybergraph_links", "Distinct links.", status.counts.links as f64),
            ("cybergraph_neurons", "Known neurons.", status.counts.neurons as f64),
            ("cybergraph_mempool_transactions", "Transactions waiting for a block.", status.mempool as f64),
            ("cybergraph_focus_solve_seconds", "Wall time of the last focus solve.", focus.solve_micros as f64 / 1e6),
            ("cybergraph_focus_iterations", "Iterations of the last focus solve.", f64::from(focus.iterations)),
            ("cybergraph_focus_syntropy_bits", "Syntropy of the last focus.", focus.syntropy / std::f64::consts::LN_2),
            (
                "cybergraph_model_rows",
                "Particles the served model has rows for, folded-in ones included (0: no model).",
                model.as_ref().map_or(0.0, |m| m.served.model().shape.particles as f64),
            ),
            (
                "cybergraph_model_indexed",
                "1 once the served model's output rows are indexed (built in the background after adoption; until then every scan reads every row).",
                model.as_ref().map_or(0.0, |m| f64::from(u8::from(m.served.is_indexed()))),
            ),
        ];
        for (name, help, value) in gauges {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}");
        }
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let counters = [
            (
                "cybergraph_rate_limited_requests_total",
                "Requests refused by the per-IP rate limit.",
                load(&self.rate_limited),
            ),
            ("cybergraph_sprint_nonces_total", "Nonces the in-node Sprint job evaluated.", load(&self.sprint.nonces)),
            ("cybergraph_sprint_hits_total", "Hits among them.", load(&self.sprint.hits)),
            ("cybergraph_sprint_windows_total", "Sprint windows proved.", load(&self.sprint.windows)),
        ];
        for (name, help, value) in counters {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}");
        }
        self.render_pool(&mut out);
        out
    }

    /// The device pool per job class, and the focus solve's device.
    fn render_pool(&self, out: &mut String) {
        let counts = Priority::ALL.map(|class| (class.label(), self.pool.counts(class)));
        let families: [MetricFamily; 4] = [
            ("cybergraph_pool_running", "gauge", "Units of work running, by job class.", |c| c.running as f64),
            ("cybergraph_pool_units_total", "counter", "Units of work run, by job class.", |c| c.entered as f64),
            ("cybergraph_pool_busy_seconds_total", "counter", "Wall time of those units, by job class.", |c| {
                c.busy_micros as f64 / 1e6
            }),
            (
                "cybergraph_pool_waits_total",
                "counter",
                "Times a job waited for higher-priority work, by job class (Sprint between rounds, training between steps).",
                |c| c.waits as f64,
            ),
        ];
        for (name, kind, help, value) in families {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (class, counts) in &counts {
                let _ = writeln!(out, "{name}{{class=\"{class}\"}} {}", value(counts));
            }
        }
        let name = "cybergraph_focus_device";
        let _ = writeln!(out, "# HELP {name} The device the focus solve runs on (value 1).\n# TYPE {name} gauge");
        let _ = writeln!(out, "{name}{{device=\"{}\"}} 1", label_value(&self.focus_device.describe()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_escape_what_the_exposition_format_requires() {
        assert_eq!(
            label_value(
                r#"GPU "A\B"
x"#
            ),
            r#"GPU \"A\\B\"\nx"#
        );
        assert_eq!(label_value("cpu"), "cpu");
    }
}
