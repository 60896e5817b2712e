//! Prometheus metrics, in the text exposition format (version 0.0.4),
//! for the gateway, every ministry service and the console.
//!
//! A handful of types, no registry crate: counters and histograms with
//! labels, each kept behind one lock, and [`Text`], which writes families
//! the way Prometheus reads them (`# HELP`, `# TYPE`, escaped label
//! values, `_bucket`/`_sum`/`_count` for a histogram). Names follow the
//! conventions: `homeward_` first, base units, counters ending in
//! `_total`, durations in `_seconds`.
//!
//! Labels are things like a decision, a code, a message type, a rule or a
//! member: never a person, a case, an envelope or a trace id, which would
//! be personal data or unbounded series.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

/// A counter family: a count per label values.
#[derive(Debug)]
pub struct Counter {
    labels: &'static [&'static str],
    values: Mutex<BTreeMap<Vec<String>, u64>>,
}

impl Counter {
    /// A family with these label names.
    pub const fn new(labels: &'static [&'static str]) -> Self {
        Self {
            labels,
            values: Mutex::new(BTreeMap::new()),
        }
    }

    /// Adds `n` to the series of `values` (one per label name).
    pub fn add(&self, values: &[&str], n: u64) {
        debug_assert_eq!(values.len(), self.labels.len());
        let key: Vec<String> = values.iter().map(|v| (*v).to_owned()).collect();
        *self
            .values
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(key)
            .or_default() += n;
    }

    pub fn inc(&self, values: &[&str]) {
        self.add(values, 1);
    }

    /// The count of one series.
    pub fn get(&self, values: &[&str]) -> u64 {
        let key: Vec<String> = values.iter().map(|v| (*v).to_owned()).collect();
        self.values
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            .copied()
            .unwrap_or(0)
    }

    fn snapshot(&self) -> Vec<(Vec<String>, u64)> {
        self.values
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect()
    }
}

/// The bucket bounds (seconds) of a latency: 1 ms to 30 s.
pub const LATENCY_BUCKETS: [f64; 14] = [
    0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0,
];

/// A histogram without labels.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    state: Mutex<HistogramState>,
}

#[derive(Debug, Default, Clone)]
struct HistogramState {
    /// Per bound, the observations at or below it (not cumulative here).
    buckets: Vec<u64>,
    count: u64,
    sum: f64,
}

impl Histogram {
    pub fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            state: Mutex::new(HistogramState {
                buckets: vec![0; bounds.len()],
                count: 0,
                sum: 0.0,
            }),
        }
    }

    /// Records one observation of `value` (seconds, for a duration).
    pub fn observe(&self, value: f64) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = self.bounds.iter().position(|b| value <= *b) {
            s.buckets[i] += 1;
        }
        s.count += 1;
        s.sum += value;
    }

    /// How many observations were made.
    pub fn count(&self) -> u64 {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).count
    }
}

/// The text of a scrape.
#[derive(Debug, Default)]
pub struct Text(String);

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Text {
    fn header(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {}", help.replace('\n', " "));
        let _ = writeln!(self.0, "# TYPE {name} {kind}");
    }

    fn line(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                let _ = write!(self.0, "{k}=\"{}\"", escape(v));
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {value}");
    }

    /// A counter family (`name` ends in `_total`).
    pub fn counter(&mut self, name: &str, help: &str, counter: &Counter) {
        debug_assert!(name.ends_with("_total"), "{name}");
        self.header(name, "counter", help);
        for (values, n) in counter.snapshot() {
            let labels: Vec<(&str, &str)> = counter
                .labels
                .iter()
                .copied()
                .zip(values.iter().map(String::as_str))
                .collect();
            self.line(name, &labels, n);
        }
    }

    /// A counter without labels, from a value kept elsewhere.
    pub fn counter_value(&mut self, name: &str, help: &str, value: u64) {
        debug_assert!(name.ends_with("_total"), "{name}");
        self.header(name, "counter", help);
        self.line(name, &[], value);
    }

    /// A gauge family: one sample per label values.
    pub fn gauge<'a>(
        &mut self,
        name: &str,
        help: &str,
        samples: impl IntoIterator<Item = (Vec<(&'a str, &'a str)>, f64)>,
    ) {
        self.header(name, "gauge", help);
        for (labels, value) in samples {
            self.line(name, &labels, value);
        }
    }

    /// A histogram (`name` ends in the unit, `_seconds` for a duration).
    pub fn histogram(&mut self, name: &str, help: &str, histogram: &Histogram) {
        let s = histogram
            .state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        self.header(name, "histogram", help);
        let bucket = format!("{name}_bucket");
        let mut cumulative = 0;
        for (bound, n) in histogram.bounds.iter().zip(&s.buckets) {
            cumulative += n;
            self.line(&bucket, &[("le", &bound.to_string())], cumulative);
        }
        self.line(&bucket, &[("le", "+Inf")], s.count);
        self.line(&format!("{name}_sum"), &[], s.sum);
        self.line(&format!("{name}_count"), &[], s.count);
    }

    /// The scrape's text.
    pub fn finish(self) -> String {
        self.0
    }
}

/// The media type of the text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_are_written_as_prometheus_reads_them() {
        let c = Counter::new(&["decision", "code"]);
        c.inc(&["accepted", ""]);
        c.add(&["rejected", "bad \"sig\""], 2);
        let h = Histogram::new(&LATENCY_BUCKETS);
        h.observe(0.003);
        h.observe(40.0);
        let mut t = Text::default();
        t.counter("homeward_x_total", "X.", &c);
        t.histogram("homeward_x_seconds", "X's time.", &h);
        t.gauge("homeward_y", "Y.", [(vec![("m", "kz.mfa")], 3.0)]);
        let text = t.finish();
        assert!(text.contains("# TYPE homeward_x_total counter\n"), "{text}");
        assert!(
            text.contains("homeward_x_total{decision=\"accepted\",code=\"\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("code=\"bad \\\"sig\\\"\"} 2\n"), "{text}");
        assert!(
            text.contains("homeward_x_seconds_bucket{le=\"0.005\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("homeward_x_seconds_bucket{le=\"30\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("homeward_x_seconds_bucket{le=\"+Inf\"} 2\n"),
            "{text}"
        );
        assert!(text.contains("homeward_x_seconds_count 2\n"), "{text}");
        assert!(text.contains("homeward_y{m=\"kz.mfa\"} 3\n"), "{text}");
    }
}
