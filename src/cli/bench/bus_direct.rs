//! `--bus-direct`: the consumer → WebSocket leg alone. `--customers` customers are registered
//! over HTTP first, each with its WebSocket open and its first event received; then events for
//! them are written straight to the bus topics at `--rate` events a second (open loop), each
//! continuing its customer's sequence and cycling through the five step topics as a workflow
//! does, and every one must arrive once and in order on its customer's socket.
//!
//! "step" is the time from an event's intended write to the bus's acknowledgement (`acks=all`),
//! "push" from that same intended time to its WebSocket frame, so a slow write is charged to the
//! events it delayed. Kafka only: the embedded bus is a log inside the server's process.

use super::checker::OrderChecker;
use super::report::{Report, Tally};
use super::workflow::{lock, registration, Client, Socket, WorkflowError};
use crate::domain::event::{EventDraft, Topic};
use crate::domain::ids::{ApplicationId, CustomerId};
use crate::ports::bus::{EventBus, OutgoingRecord, TopicNames};
use futures::stream::{self, StreamExt};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// Registrations in flight at once while the customers are set up.
const REGISTERING_AT_ONCE: usize = 64;
/// At most this many events in one write to the bus.
const MAX_BATCH: usize = 2_000;
/// The topics an event cycles through: a workflow's five steps after registration.
const CYCLE: [Topic; 5] = [
    Topic::DocumentsProcessed,
    Topic::KycVerified,
    Topic::PolicyRecommended,
    Topic::WorkflowCompleted,
    Topic::UserInfoSubmitted,
];
/// Lead between the end of the set-up and the first intended write, so every reader is waiting.
const LEAD: Duration = Duration::from_millis(200);

/// What the mode is asked for.
pub struct Plan {
    pub customers: u64,
    /// Events per second over all customers.
    pub rate: f64,
    pub duration: Duration,
}

impl Plan {
    /// Events in the run.
    fn events(&self) -> u64 {
        (self.duration.as_secs_f64() * self.rate).ceil() as u64
    }

    /// Intended write time of event `j`, from the start.
    fn at(&self, j: u64) -> Duration {
        Duration::from_secs_f64(j as f64 / self.rate)
    }

    /// Event `j` goes to customer `j % customers`, as that customer's `j / customers`-th.
    fn owner(&self, j: u64) -> (usize, u64) {
        ((j % self.customers) as usize, j / self.customers)
    }

    /// Events customer `c` is due in a run of `events`.
    fn due_to(&self, c: usize, events: u64) -> u64 {
        let c = c as u64;
        events / self.customers + u64::from(c < events % self.customers)
    }
}

/// A registered customer: where its stream stands after registration.
struct Registered {
    customer: CustomerId,
    application: ApplicationId,
    last_sequence: u64,
    socket: Socket,
}

/// Runs the mode against `bus` (already checked to be Kafka).
pub async fn run(
    client: Arc<Client>,
    run_id: &str,
    plan: Plan,
    bus: Arc<dyn EventBus>,
    topics: TopicNames,
) -> Report {
    let tally = Arc::new(Mutex::new(Tally::default()));
    let set_up = Instant::now();
    let registered = register_all(&client, run_id, plan.customers, &tally).await;
    eprintln!(
        "bench: {} customers registered in {:.1} s, writing {} events to the bus",
        registered.len(),
        set_up.elapsed().as_secs_f64(),
        plan.events()
    );
    if registered.len() as u64 != plan.customers {
        let report = lock(&tally).report("bus-direct", plan.rate, set_up.elapsed());
        return report;
    }
    let plan = Arc::new(plan);
    let started = Instant::now() + LEAD;
    let events = plan.events();
    let mut writers = Vec::with_capacity(registered.len());
    let mut readers = tokio::task::JoinSet::new();
    for (c, r) in registered.into_iter().enumerate() {
        writers.push((r.customer.clone(), r.application, r.last_sequence));
        let expected = plan.due_to(c, events);
        let last_intended = started + plan.at(events.saturating_sub(1));
        readers.spawn(read(
            client.clone(),
            r.socket,
            Stream {
                index: c,
                first: r.last_sequence,
                expected,
            },
            plan.clone(),
            started,
            last_intended,
            tally.clone(),
        ));
    }
    write_all(&plan, started, &writers, bus.as_ref(), &topics, &tally).await;
    while let Some(joined) = readers.join_next().await {
        if let Err(e) = joined {
            eprintln!("bench: a reader ended: {e}");
            lock(&tally).failed += 1;
        }
    }
    let report = lock(&tally).report("bus-direct", plan.rate, started.elapsed());
    report
}

/// Registers `count` customers, each with its socket open and its first event received.
async fn register_all(
    client: &Arc<Client>,
    run_id: &str,
    count: u64,
    tally: &Mutex<Tally>,
) -> Vec<Registered> {
    let results: Vec<Result<Registered, WorkflowError>> = stream::iter(0..count)
        .map(|i| {
            let client = client.clone();
            let customer = CustomerId::parse(&format!("{run_id}-{i}")).expect("a valid id");
            async move {
                let (mut socket, _) = client.connect(&customer).await?;
                let (application, last_sequence) =
                    registration(&client, &customer, &mut socket).await?;
                Ok(Registered {
                    customer,
                    application,
                    last_sequence,
                    socket,
                })
            }
        })
        .buffered(REGISTERING_AT_ONCE)
        .collect()
        .await;
    let mut registered = Vec::with_capacity(results.len());
    for result in results {
        match result {
            Ok(r) => registered.push(r),
            Err(e) => {
                let mut tally = lock(tally);
                tally.failed += 1;
                if tally.failed <= 5 {
                    eprintln!("bench: registering a customer failed: {e}");
                }
            }
        }
    }
    registered
}

/// Writes every event at its intended time: all events due by now go out in one write (so a
/// slow acknowledgement makes the next write larger, never later), and each write's
/// acknowledgement is recorded against the intended time of each of its events.
async fn write_all(
    plan: &Plan,
    started: Instant,
    customers: &[(CustomerId, ApplicationId, u64)],
    bus: &dyn EventBus,
    topics: &TopicNames,
    tally: &Mutex<Tally>,
) {
    let events = plan.events();
    let mut next = 0;
    while next < events {
        tokio::time::sleep_until(started + plan.at(next)).await;
        let due = ((started.elapsed().as_secs_f64() * plan.rate).floor() as u64 + 1)
            .clamp(next + 1, events)
            .min(next + MAX_BATCH as u64);
        let records: Vec<OutgoingRecord> = (next..due)
            .map(|j| {
                let (c, m) = plan.owner(j);
                let (customer, application, last) = &customers[c];
                record(customer, *application, last + 1 + m, topics)
            })
            .collect();
        if let Err(reason) = publish(bus, records, started + plan.at(due - 1)).await {
            // Whatever was not acknowledged is counted lost by the readers.
            let mut tally = lock(tally);
            tally.failed += 1;
            eprintln!("bench: writing to the bus failed, stopping: {reason}");
            return;
        }
        let acknowledged = Instant::now();
        let mut tally = lock(tally);
        for j in next..due {
            tally.record_step(acknowledged.saturating_duration_since(started + plan.at(j)));
        }
        drop(tally);
        next = due;
    }
}

/// One write, retried (same records, same event ids: consumers de-duplicate) until the
/// acknowledgement comes or the patience after its last event's intended time runs out.
async fn publish(
    bus: &dyn EventBus,
    records: Vec<OutgoingRecord>,
    last_intended: Instant,
) -> Result<(), String> {
    let give_up = last_intended + Duration::from_secs(10);
    loop {
        match bus.publish(records.clone()).await {
            Ok(_) => return Ok(()),
            Err(error) if Instant::now() < give_up => {
                eprintln!("bench: a write to the bus failed, retrying: {error}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(error) => return Err(error.to_string()),
        }
    }
}

/// The record of customer's event number `sequence`, on the topic its place in the cycle names.
fn record(
    customer: &CustomerId,
    application: ApplicationId,
    sequence: u64,
    topics: &TopicNames,
) -> OutgoingRecord {
    let topic = CYCLE[(sequence as usize) % CYCLE.len()];
    let envelope = EventDraft::new(
        topic,
        customer.clone(),
        Some(application),
        format!("bench-{customer}-{sequence}"),
        serde_json::json!({ "bench": true }),
    )
    .into_envelope(sequence);
    OutgoingRecord {
        topic: topics.name(topic),
        key: customer.as_str().to_owned(),
        headers: envelope.headers(),
        value: envelope.to_json().into(),
    }
}

/// Where one customer's stream starts and how many events it is due.
struct Stream {
    index: usize,
    /// The sequence of its registration event; the bench's events follow it.
    first: u64,
    expected: u64,
}

/// Reads one customer's socket until its events are in or the event timeout after the last
/// intended write has passed; missing or misordered events count as lost.
async fn read(
    client: Arc<Client>,
    mut socket: Socket,
    stream: Stream,
    plan: Arc<Plan>,
    started: Instant,
    last_intended: Instant,
    tally: Arc<Mutex<Tally>>,
) {
    let mut checker = OrderChecker::after(stream.first);
    let deadline = last_intended + client.event_timeout;
    let mut received = 0;
    while received < stream.expected {
        let frame = match client.frame_until(&mut socket, "event", deadline).await {
            Ok(frame) => frame,
            Err(e) => {
                let mut tally = lock(&tally);
                tally.lost += stream.expected - received;
                if matches!(e, WorkflowError::Socket(_)) {
                    tally.failed += 1;
                    eprintln!("bench: a customer's socket failed: {e}");
                }
                break;
            }
        };
        let arrived = Instant::now();
        let sequence = frame["event"]["sequence"].as_u64().unwrap_or(0);
        if let Err(violation) = checker.observe(sequence) {
            let mut tally = lock(&tally);
            tally.lost += stream.expected - received;
            tally.broken_streams += 1;
            if tally.broken_streams <= 5 {
                eprintln!("bench: a customer's stream broke: {violation}");
            }
            break;
        }
        received += 1;
        let m = sequence - stream.first - 1;
        let j = m * plan.customers + stream.index as u64;
        lock(&tally).record_push(arrived.saturating_duration_since(started + plan.at(j)));
    }
    let _ = socket.close(None).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(customers: u64, rate: f64, secs: u64) -> Plan {
        Plan {
            customers,
            rate,
            duration: Duration::from_secs(secs),
        }
    }

    #[test]
    fn events_are_dealt_round_robin_and_each_customer_is_due_its_share() {
        let p = plan(3, 10.0, 1);
        assert_eq!(p.events(), 10);
        let owners: Vec<_> = (0..p.events()).map(|j| p.owner(j)).collect();
        assert_eq!(owners[0], (0, 0));
        assert_eq!(owners[4], (1, 1));
        assert_eq!(owners[9], (0, 3));
        let shares: Vec<u64> = (0..3).map(|c| p.due_to(c, p.events())).collect();
        assert_eq!(shares, vec![4, 3, 3]);
        for (c, share) in shares.iter().enumerate() {
            let counted = owners.iter().filter(|(o, _)| *o == c).count() as u64;
            assert_eq!(counted, *share);
        }
    }

    #[test]
    fn intended_times_are_evenly_spaced_at_the_rate() {
        let p = plan(2, 4.0, 2);
        assert_eq!(p.at(0), Duration::ZERO);
        assert_eq!(p.at(6), Duration::from_millis(1500));
    }

    #[test]
    fn a_record_continues_the_sequence_on_its_topic_keyed_by_the_customer() {
        let topics = TopicNames::with_prefix("t-").unwrap();
        let customer = CustomerId::parse("bench-1").unwrap();
        let application = ApplicationId::new();
        let record = record(&customer, application, 7, &topics);
        let envelope = crate::domain::event::Envelope::from_json(&record.value).unwrap();
        assert_eq!(envelope.sequence, 7);
        assert_eq!(envelope.customer_id, customer);
        assert_eq!(envelope.application_id, Some(application));
        assert_eq!(record.topic, topics.name(envelope.topic));
        assert_eq!(record.key, "bench-1");
        let next = crate::domain::event::Envelope::from_json(
            &super::record(&customer, application, 8, &topics).value,
        )
        .unwrap();
        assert_ne!(
            next.topic, envelope.topic,
            "consecutive events change topic"
        );
    }
}
