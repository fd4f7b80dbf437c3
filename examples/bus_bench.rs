//! Load tool for BENCHMARKS.md: publish → consume through the event bus, on Kafka or on the
//! embedded bus for comparison. One consumer-group member reads while a publisher sends
//! 512-byte records spread over 1,000 keys; each record carries its send time, so the reader
//! measures publish-to-consume latency.
//!
//! ```text
//! cargo run --release --example bus_bench -- embedded 20000 100
//! KAFKA_BROKERS=127.0.0.1:9092 cargo run --release --example bus_bench -- kafka 20000 100
//! ```
//! Arguments: bus (embedded|kafka), records (default 20000), records per publish call (default 100).

use bytes::Bytes;
use onboard::adapters::embedded_bus::EmbeddedBus;
use onboard::adapters::kafka::KafkaBus;
use onboard::ports::bus::{EventBus, OutgoingRecord, StartFrom, SubscribeOptions, TopicSpec};
use std::sync::Arc;
use std::time::{Duration, Instant};

const VALUE_BYTES: usize = 512;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let kind = args.first().map(String::as_str).unwrap_or("embedded");
    let records: usize = args.get(1).map_or(Ok(20_000), |a| a.parse())?;
    let batch: usize = args.get(2).map_or(Ok(100), |a| a.parse())?;
    let _dir = tempfile::tempdir()?;
    let bus: Arc<dyn EventBus> = match kind {
        "embedded" => EmbeddedBus::open(_dir.path())?,
        "kafka" => {
            let config = onboard::config::load(
                None,
                &onboard::config::Environment::from_process(),
                onboard::config::Flags::default(),
            );
            let onboard::wiring::BusSettings::Kafka(mut settings) =
                config.build(|c, p| c.bus_settings(p))?
            else {
                anyhow::bail!("set KAFKA_BROKERS (eval \"$(scripts/kafka.sh env)\")");
            };
            settings.replication_factor = 1;
            KafkaBus::connect(settings).await?
        }
        other => anyhow::bail!("unknown bus '{other}': embedded or kafka"),
    };
    let topic = format!("bench-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let replication = std::env::var("BENCH_REPLICATION")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(1);
    bus.create_topics(&[TopicSpec {
        name: topic.clone(),
        partitions: 3,
        replication_factor: replication,
        configs: vec![],
    }])
    .await?;

    let mut sub = bus
        .subscribe(SubscribeOptions {
            group: format!("{topic}-g"),
            topics: vec![topic.clone()],
            start_from: StartFrom::Earliest,
            max_batch: 500,
        })
        .await?;
    let origin = Instant::now();
    let reader = tokio::spawn(async move {
        let mut latencies = Vec::with_capacity(records);
        while latencies.len() < records {
            let got = sub.poll(Duration::from_millis(100)).await?;
            let now = origin.elapsed().as_micros() as u64;
            for r in &got {
                let sent = u64::from_be_bytes(r.value[..8].try_into()?);
                latencies.push(now.saturating_sub(sent));
                sub.ack(r);
            }
            if !got.is_empty() {
                sub.commit().await?;
            }
        }
        sub.close().await?;
        Ok::<_, anyhow::Error>(latencies)
    });

    let started = Instant::now();
    let mut call_times = Vec::new();
    for chunk_start in (0..records).step_by(batch) {
        let chunk: Vec<OutgoingRecord> = (chunk_start..(chunk_start + batch).min(records))
            .map(|i| {
                let mut value = vec![b'x'; VALUE_BYTES];
                value[..8].copy_from_slice(&(origin.elapsed().as_micros() as u64).to_be_bytes());
                OutgoingRecord {
                    topic: topic.clone(),
                    key: format!("customer-{}", i % 1000),
                    headers: vec![("event-id".into(), i.to_string())],
                    value: Bytes::from(value),
                }
            })
            .collect();
        let call = Instant::now();
        bus.publish(chunk).await?;
        call_times.push(call.elapsed().as_micros() as u64);
    }
    let publish_elapsed = started.elapsed();
    let mut latencies = reader.await??;
    let total_elapsed = started.elapsed();
    latencies.sort_unstable();
    call_times.sort_unstable();
    let pct =
        |v: &[u64], p: f64| v[((v.len() as f64 * p) as usize).min(v.len() - 1)] as f64 / 1000.0;
    println!(
        "bus={kind} records={records} batch={batch} value={VALUE_BYTES}B replication={replication}\n\
         publish: {:.0} records/s ({:.2}s); publish call p50 {:.2} ms, p99 {:.2} ms\n\
         publish→consume: all consumed after {:.2}s ({:.0} records/s); latency p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        records as f64 / publish_elapsed.as_secs_f64(),
        publish_elapsed.as_secs_f64(),
        pct(&call_times, 0.5),
        pct(&call_times, 0.99),
        total_elapsed.as_secs_f64(),
        records as f64 / total_elapsed.as_secs_f64(),
        pct(&latencies, 0.5),
        pct(&latencies, 0.95),
        pct(&latencies, 0.99),
        *latencies.last().unwrap_or(&0) as f64 / 1000.0,
    );
    Ok(())
}
