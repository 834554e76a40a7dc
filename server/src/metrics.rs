//! What `/metrics` reports, in the Prometheus (OpenMetrics) text format:
//! counters and a histogram updated where things happen, and gauges read
//! from the running parts at scrape time. Counts and times only: nothing
//! about a case or a person.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// The running server's metrics (one set per server, held by its hub).
pub struct Metrics {
    registry: Registry,
    /// Messages committed by this node (rate it for messages per second).
    pub messages_committed: Counter,
    /// From a message's commit to its frame being written to a socket, in
    /// seconds, for live deliveries (replays after a subscribe are not counted).
    pub delivery_latency: Histogram,
    /// How long the writer takes to store one batch (waiting for the write
    /// turn included), in seconds, and how many posts each batch held.
    pub writer_batch_seconds: Histogram,
    pub writer_batch_posts: Histogram,
    /// From a batch's commit to its log being on disk (SQLite's fsync, run
    /// after the write lock is released; 0 on PostgreSQL), in seconds.
    pub writer_sync_seconds: Histogram,
    /// Cluster notifications from other nodes, and what recovery found.
    pub cluster_notifications: Counter,
    pub cluster_recoveries: Counter,
    pub cluster_recovered_messages: Counter,
    /// Notified messages whose fetch failed and was tried again (after
    /// 200 ms, doubling up to 5 s, until it succeeds; no new notification
    /// needed).
    pub cluster_fetch_retries: Counter,
    /// 1 while this node listens for the other nodes' notifications
    /// (PostgreSQL); always 0 on SQLite, where no cluster runs.
    pub cluster_listening: Gauge,
    /// Live messages that found a connection's queue full and were left for
    /// it to fetch from the database, and connections given up on as too
    /// slow (close 4008).
    pub websocket_deferred: Counter,
    pub websocket_too_slow: Counter,
    pub connections: Gauge,
    pub writer_queue: Gauge,
    pub delivery_log_queue: Gauge,
    pub db_pool_size: Gauge,
    pub db_pool_idle: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("confer");
        let messages_committed = Counter::default();
        registry.register(
            "messages_committed",
            "Messages committed by this node",
            messages_committed.clone(),
        );
        let histogram = |registry: &mut Registry, name: &str, help: &str, buckets: &[f64]| {
            let h = Histogram::new(buckets.iter().copied());
            registry.register(name, help, h.clone());
            h
        };
        let delivery_latency = histogram(
            &mut registry,
            "delivery_latency_seconds",
            "From commit to the frame written to a subscriber's socket (live deliveries)",
            &[
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ],
        );
        let writer_batch_seconds = histogram(
            &mut registry,
            "writer_batch_seconds",
            "Time to store one group-committed batch of messages, waiting for the write turn included",
            &[
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ],
        );
        let writer_batch_posts = histogram(
            &mut registry,
            "writer_batch_posts",
            "Posts in each group-committed batch",
            &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0],
        );
        let writer_sync_seconds = histogram(
            &mut registry,
            "writer_sync_seconds",
            "From a batch's commit to its write-ahead log being on disk (SQLite's fsync, after the write lock is released)",
            &[
                0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
            ],
        );
        let counter = |registry: &mut Registry, name: &str, help: &str| {
            let c = Counter::default();
            registry.register(name, help, c.clone());
            c
        };
        let cluster_notifications = counter(
            &mut registry,
            "cluster_notifications_received",
            "LISTEN/NOTIFY notifications received from other nodes",
        );
        let cluster_recoveries = counter(
            &mut registry,
            "cluster_recoveries",
            "Times the notification connection was re-established and missed events recovered from the database",
        );
        let cluster_recovered_messages = counter(
            &mut registry,
            "cluster_recovered_messages",
            "Messages delivered from the database after a lost notification connection",
        );
        let cluster_fetch_retries = counter(
            &mut registry,
            "cluster_fetch_retries",
            "Fetches of notified messages tried again after the database failed to answer",
        );
        let websocket_deferred = counter(
            &mut registry,
            "websocket_messages_deferred",
            "Live messages that found a connection's queue full, left for it to fetch from the database",
        );
        let websocket_too_slow = counter(
            &mut registry,
            "websocket_too_slow",
            "Connections closed because they left a full queue untaken (close 4008)",
        );
        let gauge = |registry: &mut Registry, name: &str, help: &str| {
            let g = Gauge::default();
            registry.register(name, help, g.clone());
            g
        };
        let cluster_listening = gauge(
            &mut registry,
            "cluster_listening",
            "1 while this node listens for other nodes' notifications",
        );
        let connections = gauge(
            &mut registry,
            "websocket_connections",
            "Open websocket connections",
        );
        let writer_queue = gauge(
            &mut registry,
            "writer_queue_depth",
            "Messages waiting for the group-committing writer",
        );
        let delivery_log_queue = gauge(
            &mut registry,
            "delivery_log_queue_depth",
            "Deliveries waiting to be written to the delivery log",
        );
        let db_pool_size = gauge(
            &mut registry,
            "db_pool_connections",
            "Database connections open in the pool",
        );
        let db_pool_idle = gauge(
            &mut registry,
            "db_pool_idle_connections",
            "Idle database connections in the pool",
        );
        Self {
            registry,
            messages_committed,
            delivery_latency,
            writer_batch_seconds,
            writer_batch_posts,
            writer_sync_seconds,
            cluster_notifications,
            cluster_recoveries,
            cluster_recovered_messages,
            cluster_fetch_retries,
            cluster_listening,
            websocket_deferred,
            websocket_too_slow,
            connections,
            writer_queue,
            delivery_log_queue,
            db_pool_size,
            db_pool_idle,
        }
    }
}

impl Metrics {
    /// The text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

/// Wall-clock milliseconds, for latency against a message's `created_at`
/// (deliberately not the injected clock: latency is real elapsed time).
pub fn wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
