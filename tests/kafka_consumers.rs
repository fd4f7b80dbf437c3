//! Consumer processes on Kafka, run as the real binary (`onboard api` + `onboard consumer`
//! sharing one store): a consumer killed with SIGKILL mid-stream and restarted loses no event and
//! writes no duplicate row or e-mail; two consumer processes in one group split the partitions,
//! and a third joining or one leaving loses nothing; `KAFKA_TOPIC` and the starting position
//! reach the running process.

mod kafka_support;

use onboard::auth::{Authenticator, JwtSecret};
use onboard::domain::ids::CustomerId;
use onboard::testing::webhook_receiver::{WebhookReceiver, HOLD};
use rdkafka::consumer::{BaseConsumer, Consumer};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SECRET: &str = "kafka-consumers-test-secret-long-enough-for-hs256";

/// One system under test: its data directory, topic prefix, group and processes' ports.
struct System {
    brokers: String,
    dir: tempfile::TempDir,
    prefix: String,
    group: String,
    /// The API process's port, known once it listens (0 before [`System::api`]).
    api_port: std::sync::atomic::AtomicU16,
    http: reqwest::Client,
    auth: Authenticator,
    /// Where the processes deliver notifications (`ONBOARD_NOTIFIER=webhook`).
    receiver: WebhookReceiver,
    /// Every process started, so a failing test leaves none behind.
    spawned: std::sync::Mutex<Vec<u32>>,
    /// Each consumer process's pid and HTTP port (its `/metrics` tell which partitions it owns).
    consumers: std::sync::Mutex<Vec<(u32, u16)>>,
}

impl Drop for System {
    fn drop(&mut self) {
        let dir = self.data_dir().to_string_lossy().into_owned();
        for pid in self.spawned.lock().map(|p| p.clone()).unwrap_or_default() {
            // Only a process still running on this system's data directory (pids are reused).
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            if String::from_utf8_lossy(&cmdline).contains(&dir) {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
            }
        }
    }
}

impl System {
    /// `script`: the webhook receiver's first answers (see [`WebhookReceiver::start`]).
    async fn new(brokers: String, script: &[u16]) -> Self {
        let id = kafka_support::unique("procs");
        Self {
            receiver: WebhookReceiver::start(script).await,
            brokers,
            dir: tempfile::tempdir().expect("temp dir"),
            prefix: format!("{id}."),
            group: id,
            api_port: std::sync::atomic::AtomicU16::new(0),
            http: reqwest::Client::new(),
            auth: Authenticator::new(&JwtSecret::new(SECRET.as_bytes().to_vec()).unwrap()),
            spawned: std::sync::Mutex::new(Vec::new()),
            consumers: std::sync::Mutex::new(Vec::new()),
        }
    }

    fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// Starts `onboard <role>` on a port of the system's choosing, with settings of its own in
    /// the environment, and returns it with the port it printed once listening. (A port picked
    /// here and passed on could be taken in between, by another test's process or an outgoing
    /// connection, and the requests meant for this process would reach that one.)
    fn spawn_with(&self, role: &str, extra: &[&str], env: &[(&str, &str)]) -> (Child, u16) {
        self.spawn_logging(role, extra, env, Stdio::inherit())
    }

    /// [`Self::spawn_with`] with the process's log (stderr) sent to `log`.
    fn spawn_logging(
        &self,
        role: &str,
        extra: &[&str],
        env: &[(&str, &str)],
        log: Stdio,
    ) -> (Child, u16) {
        let mut child =
            onboard::testing::env::hermetic(&mut Command::new(env!("CARGO_BIN_EXE_onboard")))
                .arg(role)
                .args(["--listen", "127.0.0.1:0", "--data-dir"])
                .arg(self.data_dir())
                .args(extra)
                // The processes share the SQLite store in the data directory, whatever the
                // developer's shell (or scripts/test.sh) points DATABASE_URL at (hermetic).
                .env("KAFKA_BROKERS", &self.brokers)
                .env("ONBOARD_BUS", "kafka")
                .env("ONBOARD_TOPIC_PREFIX", &self.prefix)
                .env("ONBOARD_CONSUMER_GROUP", &self.group)
                .env("ONBOARD_REPLICATION_FACTOR", "1")
                .env("ONBOARD_JWT_SECRET", SECRET)
                .envs(self.receiver.env())
                .env("ONBOARD_LOG", "warn,tower_http=off")
                // The tests read which partitions a consumer process owns from its /metrics.
                .env("ONBOARD_METRICS_PUBLIC", "true")
                .envs(env.iter().copied())
                .stdout(Stdio::piped())
                .stderr(log)
                .spawn()
                .expect("the onboard binary starts");
        if let Ok(mut spawned) = self.spawned.lock() {
            spawned.push(child.id());
        }
        let port = listening_port(&mut child, role);
        (child, port)
    }

    async fn api(&self) -> Child {
        let (child, port) = self.spawn_with("api", &[], &[]);
        self.api_port
            .store(port, std::sync::atomic::Ordering::SeqCst);
        wait_ready(&self.http, port).await;
        child
    }

    fn api_port(&self) -> u16 {
        let port = self.api_port.load(std::sync::atomic::Ordering::SeqCst);
        assert_ne!(port, 0, "the API process was not started");
        port
    }

    async fn consumer(&self) -> (Child, u16) {
        self.consumer_with(&[]).await
    }

    /// A consumer process with `env` added to its environment, once it is ready.
    async fn consumer_with(&self, env: &[(&str, &str)]) -> (Child, u16) {
        self.ready_consumer(env, Stdio::inherit()).await
    }

    /// A consumer process of one topic whose log (at info) goes to `log`, once it is ready.
    async fn consumer_of_logging_to(&self, topic: &str, log: &Path) -> (Child, u16) {
        let file = std::fs::File::create(log).expect("a log file");
        let env = [
            ("KAFKA_TOPIC", topic),
            ("ONBOARD_LOG", "info,tower_http=off"),
        ];
        self.ready_consumer(&env, Stdio::from(file)).await
    }

    /// Starts a consumer process, remembers it for [`Self::owners`] and waits until it is ready.
    async fn ready_consumer(&self, env: &[(&str, &str)], log: Stdio) -> (Child, u16) {
        let (child, port) = self.spawn_logging("consumer", &[], env, log);
        if let Ok(mut consumers) = self.consumers.lock() {
            consumers.push((child.id(), port));
        }
        wait_ready(&self.http, port).await;
        (child, port)
    }

    /// Submits customer `id`'s details; true when the API accepted them.
    async fn submit(&self, id: &str) -> bool {
        let token = self.auth.issue(&CustomerId::parse(id).unwrap(), 3600);
        let body = format!(
            r#"{{"email":"{id}@example.com","firstName":"John","lastName":"Doe","dateOfBirth":"1990-01-01","phoneNumber":"+1234567890"}}"#
        );
        let response = self
            .http
            .post(format!("http://127.0.0.1:{}/v1/customers", self.api_port()))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("the API answers");
        assert_eq!(
            response.status(),
            201,
            "{}",
            response.text().await.unwrap_or_default()
        );
        true
    }

    async fn stored_events(&self, id: &str) -> usize {
        let token = self.auth.issue(&CustomerId::parse(id).unwrap(), 3600);
        let feed: serde_json::Value = self
            .http
            .get(format!(
                "http://127.0.0.1:{}/v1/customers/{id}/events",
                self.api_port()
            ))
            .bearer_auth(token)
            .send()
            .await
            .expect("the API answers")
            .json()
            .await
            .expect("a JSON feed");
        feed["events"].as_array().map_or(0, Vec::len)
    }

    /// Customer e-mails the webhook receiver accepted (2xx): for each notification id, its
    /// recipient and how many times it was delivered.
    fn mail_deliveries(&self) -> BTreeMap<String, (String, usize)> {
        let mut deliveries: BTreeMap<String, (String, usize)> = BTreeMap::new();
        for request in self.receiver.requests() {
            let body: serde_json::Value =
                serde_json::from_slice(&request.body).expect("a JSON notification");
            if body["kind"] == "customer_email" && (200..300).contains(&request.answered) {
                let id = body["id"].as_str().expect("a notification id").to_string();
                let to = body["recipient"].as_str().unwrap_or_default().to_string();
                deliveries.entry(id).or_insert((to, 0)).1 += 1;
            }
        }
        deliveries
    }

    /// The notification ids of the customer e-mails delivered so far.
    fn mail_ids(&self) -> BTreeSet<String> {
        self.mail_deliveries().into_keys().collect()
    }

    /// Distinct customer e-mails (notification ids) per recipient.
    fn mails_per_customer(&self) -> BTreeMap<String, BTreeSet<String>> {
        let mut mails: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (id, (to, _)) in self.mail_deliveries() {
            mails.entry(to).or_default().insert(id);
        }
        mails
    }

    /// Waits until every customer has exactly one stored event and one e-mail, then checks
    /// nothing more arrives (a duplicate would). Each e-mail is delivered once, but those in
    /// `resendable`: delivered by a process killed before it could record the delivery, they
    /// may be sent once more, with the same id (docs/notifications.md: at least once).
    async fn assert_each_once(&self, customers: &[String], resendable: &BTreeSet<String>) {
        let started = Instant::now();
        loop {
            let mut missing = Vec::new();
            for id in customers {
                if self.stored_events(id).await < 1 {
                    missing.push(id.clone());
                }
            }
            let mails = self.mails_per_customer();
            if missing.is_empty() && mails.len() == customers.len() {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(90),
                "lost: {} events never stored ({:?}…), {} of {} customers mailed",
                missing.len(),
                missing.first(),
                mails.len(),
                customers.len()
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        for id in customers {
            assert_eq!(
                self.stored_events(id).await,
                1,
                "duplicate event rows for {id}"
            );
        }
        let mails = self.mails_per_customer();
        assert_eq!(mails.len(), customers.len());
        assert!(
            mails.values().all(|ids| ids.len() == 1),
            "a customer got two different e-mails for one event: {mails:?}"
        );
        for (id, (to, times)) in self.mail_deliveries() {
            let allowed = if resendable.contains(&id) { 2 } else { 1 };
            assert!(
                times <= allowed,
                "e-mail {id} to {to} was delivered {times} times (the killed process had \
                 delivered it: {})",
                resendable.contains(&id)
            );
        }
    }

    /// The partitions (topic, partition) the consumer process on `port` reports owning
    /// (`onboard_kafka_assigned_partitions` at 1); none when it does not answer (stopped).
    async fn owned_by(&self, port: u16) -> BTreeSet<(String, i32)> {
        let Ok(answer) = self
            .http
            .get(format!("http://127.0.0.1:{port}/metrics"))
            .send()
            .await
        else {
            return BTreeSet::new();
        };
        let text = answer.text().await.unwrap_or_default();
        text.lines()
            .filter(|line| line.starts_with("onboard_kafka_assigned_partitions{"))
            .filter(|line| line.rsplit(' ').next() == Some("1"))
            .filter_map(|line| {
                Some((
                    label(line, "topic")?,
                    label(line, "partition")?.parse().ok()?,
                ))
            })
            .collect()
    }

    /// Records written to `topic` so far (the sum of its partitions' high watermarks).
    fn records_in(&self, topic: &str) -> i64 {
        let reader: BaseConsumer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", &self.brokers)
            .create()
            .expect("a Kafka client");
        (0..3)
            .map(|partition| {
                reader
                    .fetch_watermarks(topic, partition, Duration::from_secs(10))
                    .map_or(0, |(_, high)| high)
            })
            .sum()
    }

    /// Which consumer process (by pid) owns which partitions of `topic`, as each reports.
    async fn owners(&self, topic: &str) -> BTreeMap<u32, BTreeSet<i32>> {
        let consumers = self.consumers.lock().map(|c| c.clone()).unwrap_or_default();
        let mut owners: BTreeMap<u32, BTreeSet<i32>> = BTreeMap::new();
        for (pid, port) in consumers {
            for (t, partition) in self.owned_by(port).await {
                if t == topic {
                    owners.entry(pid).or_default().insert(partition);
                }
            }
        }
        owners
    }

    /// Waits until the partitions of `topic` are spread over exactly `pids`, each owning some.
    async fn wait_split(&self, topic: &str, pids: &[u32]) -> BTreeMap<u32, BTreeSet<i32>> {
        let started = Instant::now();
        loop {
            let owners = self.owners(topic).await;
            let owning: BTreeSet<u32> = owners
                .iter()
                .filter(|(_, p)| !p.is_empty())
                .map(|(pid, _)| *pid)
                .collect();
            let all: Vec<i32> = owners.values().flatten().copied().collect();
            let distinct: BTreeSet<i32> = all.iter().copied().collect();
            if owning == pids.iter().copied().collect() && all.len() == 3 && distinct.len() == 3 {
                return owners;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "partitions of {topic} never split over {pids:?}: {owners:?}"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

/// The value of `name` in a Prometheus sample line (`metric{a="x",b="y"} 1`).
fn label(line: &str, name: &str) -> Option<String> {
    let (_, rest) = line.split_once(&format!("{name}=\""))?;
    Some(rest.split_once('"')?.0.to_string())
}

/// The port `onboard <role>` prints once it listens ([`onboard::testing::env::listening_url`]);
/// the rest of its output is drained so the process never blocks on a full pipe.
fn listening_port(child: &mut Child, role: &str) -> u16 {
    use std::io::BufRead;
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut lines = std::io::BufReader::new(stdout).lines();
    let port = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|line| {
            let url = onboard::testing::env::listening_url(&line)?;
            url.rsplit_once(':')?.1.parse().ok()
        })
        .unwrap_or_else(|| panic!("onboard {role} ended without listening: {:?}", child.wait()));
    std::thread::spawn(move || lines.for_each(drop));
    port
}

async fn wait_ready(http: &reqwest::Client, port: u16) {
    let started = Instant::now();
    loop {
        if let Ok(r) = http
            .get(format!("http://127.0.0.1:{port}/readyz"))
            .send()
            .await
        {
            if r.status() == 200 {
                return;
            }
        }
        // Generous: a process joins with six members, one after another, on a loaded machine
        // (and with KAFKA_GROUP_PROTOCOL=classic every join rebalances the whole group).
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the process on port {port} never became ready"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn kill(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

fn terminate(mut child: Child) {
    // SIGTERM: a graceful stop that commits and leaves the group.
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

fn customers(prefix: &str, range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("{prefix}-{i:03}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_killed_mid_stream_and_restarted_loses_nothing_and_duplicates_nothing() {
    let system = System::new(kafka_or_skip!(), &[HOLD]).await;
    let api = system.api().await;
    let (consumer, _) = system.consumer().await;

    let all = customers("crash", 0..60);
    for id in &all[..30] {
        system.submit(id).await;
    }
    // SIGKILL while the consumer works through the stream: the receiver holds the first
    // e-mail unanswered, so at least that delivery is in flight; events stored within the last
    // second are not committed yet (auto-commit interval), others not yet read.
    system.receiver.wait_for_held().await;
    kill(consumer);
    // Accepted by the receiver, perhaps not yet recorded as delivered: these may be resent.
    let delivered_before_the_kill = system.mail_ids();
    for id in &all[30..45] {
        system.submit(id).await;
    }
    let (consumer, _) = system.consumer().await;
    for id in &all[45..] {
        system.submit(id).await;
    }
    system
        .assert_each_once(&all, &delivered_before_the_kill)
        .await;
    kill(consumer);
    kill(api);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_processes_split_the_partitions_and_one_joining_or_leaving_loses_nothing() {
    let system = System::new(kafka_or_skip!(), &[]).await;
    let topic = format!("{}user-info-submitted", system.prefix);
    let api = system.api().await;
    let (first, _) = system.consumer().await;
    let (second, _) = system.consumer().await;
    let owners = system.wait_split(&topic, &[first.id(), second.id()]).await;
    assert_eq!(owners.len(), 2, "{owners:?}");

    let all = customers("split", 0..90);
    for id in &all[..30] {
        system.submit(id).await;
    }
    let (third, _) = system.consumer().await;
    for id in &all[30..60] {
        system.submit(id).await;
    }
    system
        .wait_split(&topic, &[first.id(), second.id(), third.id()])
        .await;
    terminate(second);
    for id in &all[60..] {
        system.submit(id).await;
    }
    system.wait_split(&topic, &[first.id(), third.id()]).await;
    system.assert_each_once(&all, &BTreeSet::new()).await;
    for child in [first, third, api] {
        terminate(child);
    }
}

/// README: `KAFKA_TOPIC=kyc-verified onboard consumer` consumes that one topic. The process
/// consumes the topic it was given (the submitted customer's event is stored), and once the
/// group is stable no member of it holds a partition of any other topic: with the setting
/// ignored, the process would join with one member per topic, six in all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_topic_makes_a_consumer_process_consume_that_topic_only() {
    let system = System::new(kafka_or_skip!(), &[]).await;
    let api = system.api().await;
    let (consumer, _) = system
        .consumer_with(&[("KAFKA_TOPIC", "user-info-submitted")])
        .await;
    system.submit("only-one-topic").await;
    let started = Instant::now();
    while system.stored_events("only-one-topic").await < 1 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the event of the topic it was given was never stored"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The process became ready only after every member it runs got its partitions, so what
    // it reports now is all it holds.
    let (_, port) = system
        .consumers
        .lock()
        .map(|c| c[0])
        .expect("the consumer process is known");
    let topics: BTreeSet<String> = system
        .owned_by(port)
        .await
        .into_iter()
        .map(|(topic, _)| topic)
        .collect();
    assert_eq!(
        topics,
        BTreeSet::from([format!("{}user-info-submitted", system.prefix)]),
        "the topics the consumer process holds partitions of"
    );
    terminate(consumer);
    terminate(api);
}

/// With more consumer processes than partitions, the one the group has no partition for joins
/// as an idle member: it is ready, owns nothing, and says so instead of warning that the group
/// never assigned it (KIP-848 gives it no assignment callback, only an epoch). When a member
/// leaves, the idle one takes over its partition.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_process_beyond_the_partition_count_joins_idle_and_takes_over_later() {
    let system = System::new(kafka_or_skip!(), &[]).await;
    let topic = format!("{}user-info-submitted", system.prefix);
    let mut members = Vec::new();
    for _ in 0..3 {
        members.push(
            system
                .consumer_with(&[("KAFKA_TOPIC", "user-info-submitted")])
                .await
                .0,
        );
    }
    let pids: Vec<u32> = members.iter().map(Child::id).collect();
    system.wait_split(&topic, &pids).await;
    let log = system.data_dir().join("idle-consumer.log");
    let (idle, idle_port) = system
        .consumer_of_logging_to("user-info-submitted", &log)
        .await;
    assert!(
        system.owned_by(idle_port).await.is_empty(),
        "the fourth member of a three-partition topic owns a partition"
    );
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        text.contains("has no partitions for this member for now"),
        "the idle member did not say it joined idle: {text}"
    );
    assert!(
        !text.contains("has not assigned partitions yet"),
        "the idle member warned that it never joined: {text}"
    );
    let leaving = members.remove(0);
    terminate(leaving);
    let mut remaining: Vec<u32> = members.iter().map(Child::id).collect();
    remaining.push(idle.id());
    system.wait_split(&topic, &remaining).await;
    for child in members.into_iter().chain([idle]) {
        terminate(child);
    }
}

/// Readiness means the consumers own partitions, also on topics the process created moments
/// before (the group coordinator's first answer to a new group's first member is empty, and
/// its partitions follow a heartbeat later): once `/readyz` answers 200, `onboard up` on new
/// topics owns all three partitions of each of the six.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn onboard_up_on_new_topics_is_ready_only_once_it_owns_their_partitions() {
    let system = System::new(kafka_or_skip!(), &[]).await;
    let (up, port) = system.spawn_with("up", &[], &[]);
    wait_ready(&system.http, port).await;
    let owned = system.owned_by(port).await;
    for topic in onboard::domain::event::Topic::ALL {
        let name = format!("{}{}", system.prefix, topic.as_str());
        let partitions: Vec<i32> = owned
            .iter()
            .filter(|(owned_topic, _)| *owned_topic == name)
            .map(|(_, partition)| *partition)
            .collect();
        assert_eq!(
            partitions,
            [0, 1, 2],
            "ready without owning {name}'s partitions: {owned:?}"
        );
    }
    terminate(up);
}

/// `ONBOARD_STARTING_POSITION=latest` (`consumer.starting_position`): a group without committed
/// offsets starts after what the topic already holds. A customer's event published before the
/// consumer joined is never stored; events published after it joined are. With the setting
/// ignored (the default is earliest) the old event would be read first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_told_to_start_at_latest_skips_what_was_published_before_it_joined() {
    let system = System::new(kafka_or_skip!(), &[]).await;
    let topic = format!("{}user-info-submitted", system.prefix);
    let api = system.api().await;
    system.submit("published-before").await;
    let started = Instant::now();
    while system.records_in(&topic) < 1 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the first event never reached {topic}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (consumer, _) = system
        .consumer_with(&[("ONBOARD_STARTING_POSITION", "latest")])
        .await;
    // The new group's position at the end of each partition is looked up after it joined, so
    // customers keep coming until one of theirs is stored: it was published after the lookup.
    let started = Instant::now();
    let mut after = 0;
    let stored = 'stored: loop {
        let id = format!("published-after-{after}");
        system.submit(&id).await;
        after += 1;
        for _ in 0..10 {
            if system.stored_events(&id).await == 1 {
                break 'stored id;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "none of {after} events published after the consumer joined was stored"
        );
    };
    assert_eq!(
        system.stored_events("published-before").await,
        0,
        "the event published before the group joined was stored (and {stored}'s too)"
    );
    terminate(consumer);
    terminate(api);
}

#[test]
fn a_label_is_read_from_a_prometheus_sample() {
    let line =
        r#"onboard_kafka_assigned_partitions{topic="p.user-info-submitted",partition="2"} 1"#;
    assert_eq!(
        label(line, "topic").as_deref(),
        Some("p.user-info-submitted")
    );
    assert_eq!(label(line, "partition").as_deref(), Some("2"));
    assert_eq!(label(line, "state"), None);
}
