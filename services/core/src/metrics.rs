//! Prometheus metrics, in the text exposition format (version 0.0.4),
//! for the gateway, every ministry service and the console.
//!
//! A [`Registry`] holds families, each registered once with its name, its
//! help and its label names: a [`Counter`] ([`Counter::inc`]), a [`Gauge`]
//! ([`Gauge::set`]) or a [`Histogram`] ([`Histogram::observe`], seconds
//! for a duration). [`Registry::render`] writes them all the way
//! Prometheus reads them (`# HELP`, `# TYPE`, escaped label values,
//! `_bucket`/`_sum`/`_count` for a histogram).
//!
//! Why not the `prometheus-client` crate: its registry and encoder do the
//! same, but every family needs a label-set type deriving its traits, and
//! the conventions below (checked at registration) are ours to enforce
//! anyway; this is some 300 lines with no dependency, and the tests parse
//! its output with an independent parser (`prometheus-parse`).
//!
//! Conventions, checked when a family is registered (a wrong name is a
//! programming error and panics at start, where every test sees it):
//! names start with `homeward_`, counters end in `_total`, histograms in
//! their base unit (`_seconds`), gauges never in `_total`.
//!
//! Labels are things like a decision, a code, a message type, a rule or a
//! member: never a person, a case, an envelope or a trace id, which would
//! be personal data in a system that must not hold any outside its
//! members, and an unbounded number of series.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Arc, Mutex, PoisonError};

/// The media type of the text format, for the `Content-Type` of a scrape.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The bucket bounds (seconds) of a latency: 1 ms to 30 s, the span
/// between a decision on an idle gateway and one behind a backlog.
pub const LATENCY_BUCKETS: [f64; 14] = [
    0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0,
];

/// The values of one series, in the order of the family's label names.
type Key = Vec<String>;

fn key(labels: &'static [&'static str], values: &[&str]) -> Key {
    // A wrong number of values is a programming error; in release it is
    // padded or cut rather than writing a line Prometheus refuses.
    debug_assert_eq!(values.len(), labels.len(), "label values for {labels:?}");
    (0..labels.len())
        .map(|i| values.get(i).copied().unwrap_or("").to_owned())
        .collect()
}

/// A counter family: a monotonic count per label values.
#[derive(Debug)]
pub struct Counter {
    labels: &'static [&'static str],
    series: Mutex<BTreeMap<Key, f64>>,
}

impl Counter {
    fn new(labels: &'static [&'static str]) -> Self {
        Self {
            labels,
            series: Mutex::new(BTreeMap::new()),
        }
    }

    /// Adds one to the series of `values` (one per label name).
    pub fn inc(&self, values: &[&str]) {
        self.add(values, 1.0);
    }

    /// Adds `n` (never negative: a counter only grows) to a series.
    pub fn add(&self, values: &[&str], n: f64) {
        let mut series = self.series.lock().unwrap_or_else(PoisonError::into_inner);
        *series.entry(key(self.labels, values)).or_default() += n.max(0.0);
    }

    /// Sets a series to a count kept elsewhere (an atomic a service
    /// already has for other readers), so it is not counted twice. The
    /// caller keeps it monotonic.
    pub fn mirror(&self, values: &[&str], n: f64) {
        let mut series = self.series.lock().unwrap_or_else(PoisonError::into_inner);
        series.insert(key(self.labels, values), n);
    }

    /// The count of one series; 0 if it was never counted.
    pub fn get(&self, values: &[&str]) -> f64 {
        let series = self.series.lock().unwrap_or_else(PoisonError::into_inner);
        series
            .get(&key(self.labels, values))
            .copied()
            .unwrap_or(0.0)
    }
}

/// A gauge family: a value per label values that goes up and down.
#[derive(Debug)]
pub struct Gauge {
    labels: &'static [&'static str],
    series: Mutex<BTreeMap<Key, f64>>,
}

impl Gauge {
    fn new(labels: &'static [&'static str]) -> Self {
        Self {
            labels,
            series: Mutex::new(BTreeMap::new()),
        }
    }

    /// Sets the series of `values` to `value`.
    pub fn set(&self, values: &[&str], value: f64) {
        let mut series = self.series.lock().unwrap_or_else(PoisonError::into_inner);
        series.insert(key(self.labels, values), value);
    }

    /// The value of one series, if it was ever set.
    pub fn get(&self, values: &[&str]) -> Option<f64> {
        let series = self.series.lock().unwrap_or_else(PoisonError::into_inner);
        series.get(&key(self.labels, values)).copied()
    }

    /// Forgets every series, for a gauge rebuilt whole at each scrape (a
    /// consumer that is gone must not linger with its last value).
    pub fn clear(&self) {
        self.series
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

/// A histogram family: observations counted into fixed buckets, per
/// label values.
#[derive(Debug)]
pub struct Histogram {
    labels: &'static [&'static str],
    bounds: &'static [f64],
    series: Mutex<BTreeMap<Key, Buckets>>,
}

#[derive(Debug, Clone)]
struct Buckets {
    /// Per bound, the observations in it (not cumulative here).
    counts: Vec<u64>,
    count: u64,
    sum: f64,
}

impl Histogram {
    fn new(labels: &'static [&'static str], bounds: &'static [f64]) -> Self {
        debug_assert!(bounds.windows(2).all(|w| w[0] < w[1]), "{bounds:?}");
        Self {
            labels,
            bounds,
            series: Mutex::new(BTreeMap::new()),
        }
    }

    /// Records one observation of `value` (seconds, for a duration) in
    /// the series of `values` (`&[]` for a family without labels).
    pub fn observe(&self, values: &[&str], value: f64) {
        let mut series = self.series.lock().unwrap_or_else(PoisonError::into_inner);
        let buckets = series
            .entry(key(self.labels, values))
            .or_insert_with(|| Buckets {
                counts: vec![0; self.bounds.len()],
                count: 0,
                sum: 0.0,
            });
        if let Some(i) = self.bounds.iter().position(|b| value <= *b) {
            buckets.counts[i] += 1;
        }
        buckets.count += 1;
        buckets.sum += value;
    }

    /// How many observations one series has.
    pub fn count(&self, values: &[&str]) -> u64 {
        let series = self.series.lock().unwrap_or_else(PoisonError::into_inner);
        series.get(&key(self.labels, values)).map_or(0, |b| b.count)
    }
}

#[derive(Debug, Clone)]
enum Metric {
    Counter(Arc<Counter>),
    Gauge(Arc<Gauge>),
    Histogram(Arc<Histogram>),
}

#[derive(Debug, Clone)]
struct Family {
    name: &'static str,
    help: &'static str,
    metric: Metric,
}

/// The families one process exports, in the order they were registered.
#[derive(Debug, Default)]
pub struct Registry {
    families: Mutex<Vec<Family>>,
}

impl Registry {
    fn add(&self, name: &'static str, help: &'static str, metric: Metric) {
        assert!(
            name.starts_with("homeward_")
                && name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
            "metric {name:?} is not homeward_[a-z0-9_]"
        );
        match &metric {
            Metric::Counter(_) => assert!(name.ends_with("_total"), "counter {name:?} not _total"),
            Metric::Gauge(_) => assert!(!name.ends_with("_total"), "gauge {name:?} ends in _total"),
            Metric::Histogram(_) => assert!(
                name.ends_with("_seconds") || name.ends_with("_bytes"),
                "histogram {name:?} not in a base unit (_seconds, _bytes)"
            ),
        }
        let mut families = self.families.lock().unwrap_or_else(PoisonError::into_inner);
        assert!(
            families.iter().all(|f| f.name != name),
            "metric {name:?} registered twice"
        );
        families.push(Family { name, help, metric });
    }

    /// Registers a counter family (`name` ends in `_total`).
    pub fn counter(
        &self,
        name: &'static str,
        help: &'static str,
        labels: &'static [&'static str],
    ) -> Arc<Counter> {
        let c = Arc::new(Counter::new(labels));
        self.add(name, help, Metric::Counter(c.clone()));
        c
    }

    /// Registers a gauge family.
    pub fn gauge(
        &self,
        name: &'static str,
        help: &'static str,
        labels: &'static [&'static str],
    ) -> Arc<Gauge> {
        let g = Arc::new(Gauge::new(labels));
        self.add(name, help, Metric::Gauge(g.clone()));
        g
    }

    /// Registers a histogram family with bucket upper bounds `bounds`
    /// (`name` ends in its unit, `_seconds` for a duration).
    pub fn histogram(
        &self,
        name: &'static str,
        help: &'static str,
        labels: &'static [&'static str],
        bounds: &'static [f64],
    ) -> Arc<Histogram> {
        let h = Arc::new(Histogram::new(labels, bounds));
        self.add(name, help, Metric::Histogram(h.clone()));
        h
    }

    /// The text of a scrape: every family, its help and type, and its
    /// series. A family with labels and no series yet has no sample line;
    /// one without labels always has one (0), so that an alert on it sees
    /// a value from the first scrape.
    pub fn render(&self) -> String {
        let families = self
            .families
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let mut out = String::new();
        for f in families {
            let kind = match f.metric {
                Metric::Counter(_) => "counter",
                Metric::Gauge(_) => "gauge",
                Metric::Histogram(_) => "histogram",
            };
            let _ = writeln!(out, "# HELP {} {}", f.name, escape_help(f.help));
            let _ = writeln!(out, "# TYPE {} {kind}", f.name);
            match &f.metric {
                Metric::Counter(c) => values(
                    &mut out,
                    f.name,
                    c.labels,
                    &c.series.lock().unwrap_or_else(PoisonError::into_inner),
                ),
                Metric::Gauge(g) => values(
                    &mut out,
                    f.name,
                    g.labels,
                    &g.series.lock().unwrap_or_else(PoisonError::into_inner),
                ),
                Metric::Histogram(h) => histogram(&mut out, f.name, h),
            }
        }
        out
    }
}

fn values(out: &mut String, name: &str, labels: &[&str], series: &BTreeMap<Key, f64>) {
    if series.is_empty() && labels.is_empty() {
        line(out, name, &[], None, 0.0);
    }
    for (k, v) in series {
        let pairs: Vec<(&str, &str)> = labels
            .iter()
            .copied()
            .zip(k.iter().map(String::as_str))
            .collect();
        line(out, name, &pairs, None, *v);
    }
}

fn histogram(out: &mut String, name: &str, h: &Histogram) {
    let mut series = h
        .series
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    if series.is_empty() && h.labels.is_empty() {
        series.insert(
            Vec::new(),
            Buckets {
                counts: vec![0; h.bounds.len()],
                count: 0,
                sum: 0.0,
            },
        );
    }
    let (bucket, sum, count) = (
        format!("{name}_bucket"),
        format!("{name}_sum"),
        format!("{name}_count"),
    );
    for (k, b) in &series {
        let pairs: Vec<(&str, &str)> = h
            .labels
            .iter()
            .copied()
            .zip(k.iter().map(String::as_str))
            .collect();
        let mut cumulative = 0;
        for (bound, n) in h.bounds.iter().zip(&b.counts) {
            cumulative += n;
            line(
                out,
                &bucket,
                &pairs,
                Some(&bound.to_string()),
                cumulative as f64,
            );
        }
        line(out, &bucket, &pairs, Some("+Inf"), b.count as f64);
        line(out, &sum, &pairs, None, b.sum);
        line(out, &count, &pairs, None, b.count as f64);
    }
}

/// One sample line; `le` is a histogram bucket's bound, the last label.
fn line(out: &mut String, name: &str, labels: &[(&str, &str)], le: Option<&str>, value: f64) {
    out.push_str(name);
    if !labels.is_empty() || le.is_some() {
        out.push('{');
        let mut first = true;
        for (k, v) in labels.iter().copied().chain(le.map(|le| ("le", le))) {
            if !first {
                out.push(',');
            }
            first = false;
            let _ = write!(out, "{k}=\"{}\"", escape_value(v));
        }
        out.push('}');
    }
    let _ = writeln!(out, " {}", number(value));
}

/// A value as the format writes it: `+Inf`, `-Inf`, `NaN`, or a number.
fn number(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_owned()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else {
        value.to_string()
    }
}

/// A label value: backslash, double quote and line feed escaped.
fn escape_value(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A help text: backslash and line feed escaped.
fn escape_help(help: &str) -> String {
    help.replace('\\', "\\\\").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_are_written_as_prometheus_reads_them() {
        let r = Registry::default();
        let c = r.counter("homeward_x_total", "X.", &["decision", "code"]);
        c.inc(&["accepted", ""]);
        c.add(&["rejected", "bad \"sig\""], 2.0);
        let h = r.histogram("homeward_x_seconds", "X's time.", &[], &LATENCY_BUCKETS);
        h.observe(&[], 0.003);
        h.observe(&[], 40.0);
        let g = r.gauge("homeward_y", "Y.", &["m"]);
        g.set(&["kz.mfa"], 3.0);
        r.gauge("homeward_z", "Never set, no labels.", &[]);
        r.counter("homeward_w_total", "Never counted, labels.", &["rule"]);
        let text = r.render();
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
        assert!(text.contains("homeward_z 0\n"), "{text}");
        assert!(!text.contains("homeward_w_total{"), "{text}");
        assert!(text.contains("# TYPE homeward_w_total counter\n"), "{text}");
    }

    #[test]
    fn histograms_with_labels_put_le_last() {
        let r = Registry::default();
        let h = r.histogram("homeward_h_seconds", "H.", &["stage"], &[0.1, 1.0]);
        h.observe(&["verify"], 0.5);
        let text = r.render();
        assert!(
            text.contains("homeward_h_seconds_bucket{stage=\"verify\",le=\"0.1\"} 0\n"),
            "{text}"
        );
        assert!(
            text.contains("homeward_h_seconds_bucket{stage=\"verify\",le=\"1\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("homeward_h_seconds_sum{stage=\"verify\"} 0.5\n"),
            "{text}"
        );
        assert_eq!(h.count(&["verify"]), 1);
    }

    #[test]
    #[should_panic(expected = "not _total")]
    fn a_counter_not_ending_in_total_is_refused() {
        Registry::default().counter("homeward_decisions", "D.", &[]);
    }

    #[test]
    #[should_panic(expected = "not homeward_")]
    fn a_name_outside_homeward_is_refused() {
        Registry::default().gauge("up", "U.", &[]);
    }

    #[test]
    #[should_panic(expected = "registered twice")]
    fn a_family_registered_twice_is_refused() {
        let r = Registry::default();
        r.gauge("homeward_g", "G.", &[]);
        r.gauge("homeward_g", "G.", &[]);
    }
}
