//! The mailer against a real SMTP server on loopback (a small sink written here), and the
//! delivery worker over it: retries while the server refuses, exactly one copy when it
//! returns, and dead letters after the last attempt.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Duration, TimeZone, Utc};
use domain::accounts::{Email, UserId};
use domain::clock::ManualClock;
use domain::notifications::*;
use domain::stop::Stop;
use domain::tickets::TicketId;
use mailer::LettreMailer;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// One message the sink accepted.
#[derive(Debug, Clone)]
struct Received {
    rcpt: Vec<String>,
    data: String,
}

/// A minimal SMTP server: EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT.
async fn sink(listener: TcpListener, inbox: Arc<Mutex<Vec<Received>>>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else { return };
        let inbox = inbox.clone();
        tokio::spawn(async move {
            let (read, mut write) = stream.into_split();
            let mut lines = BufReader::new(read).lines();
            write.write_all(b"220 sink ESMTP\r\n").await.ok();
            let mut rcpt = Vec::new();
            while let Ok(Some(line)) = lines.next_line().await {
                let upper = line.to_ascii_uppercase();
                let reply: &[u8] = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
                    b"250-sink\r\n250 8BITMIME\r\n"
                } else if upper.starts_with("MAIL FROM") {
                    rcpt.clear();
                    b"250 ok\r\n"
                } else if upper.starts_with("RCPT TO:") {
                    rcpt.push(line[8..].trim().trim_matches(['<', '>']).to_owned());
                    b"250 ok\r\n"
                } else if upper == "DATA" {
                    write.write_all(b"354 go ahead\r\n").await.ok();
                    let mut data = String::new();
                    while let Ok(Some(l)) = lines.next_line().await {
                        if l == "." {
                            break;
                        }
                        data.push_str(l.strip_prefix('.').unwrap_or(&l));
                        data.push('\n');
                    }
                    inbox.lock().unwrap().push(Received { rcpt: std::mem::take(&mut rcpt), data });
                    b"250 queued\r\n"
                } else if upper == "QUIT" {
                    write.write_all(b"221 bye\r\n").await.ok();
                    return;
                } else {
                    b"250 ok\r\n"
                };
                if write.write_all(reply).await.is_err() {
                    return;
                }
            }
        });
    }
}

fn email(n: i64) -> OutgoingEmail {
    OutgoingEmail {
        idempotency_key: format!("email:{n}"),
        recipient: UserId::new(n),
        to: Email::parse(&format!("student{n}@uni.edu")).unwrap(),
        to_name: format!("Student {n}"),
        kind: NotificationKind::Resolved,
        ticket_id: Some(TicketId::new(42)),
        ticket_title: Some("Exam room is too cold".into()),
        payload: r#"{"kind":"resolved","answer":"Room 4 is heated now."}"#.into(),
        digest: None,
        unsubscribe_token: format!("v1.{n}.resolved.MAC"),
    }
}

fn mailer(port: u16) -> LettreMailer {
    LettreMailer::smtp(
        &format!("smtp://127.0.0.1:{port}"),
        "osts <support@osts.example>",
        mailer::Links::new("https://osts.example"),
    )
    .unwrap()
}

#[tokio::test]
async fn an_email_arrives_with_both_parts_and_the_unsubscribe_header() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let inbox = Arc::new(Mutex::new(Vec::new()));
    tokio::spawn(sink(listener, inbox.clone()));

    mailer(port).send(&email(7)).await.unwrap();

    let got = inbox.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].rcpt, vec!["student7@uni.edu".to_owned()]);
    let data = &got[0].data;
    assert!(data.contains("Subject: [osts] #42 Exam room is too cold was resolved"), "{data}");
    assert!(data.contains("Content-Type: text/plain"), "{data}");
    assert!(data.contains("Content-Type: text/html"), "{data}");
    assert!(data.contains("Room 4 is heated now."), "{data}");
    assert!(data.contains("https://osts.example/tickets/42"), "{data}");
    let unsubscribe = "https://osts.example/api/v1/unsubscribe?token=v1.7.resolved.MAC";
    assert!(data.contains(&format!("List-Unsubscribe: <{unsubscribe}>")), "{data}");
    assert!(data.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"), "{data}");
    // The link is in both parts (quoted-printable may wrap lines, so unfold them first).
    let unfolded = data.replace("=\n", "").replace("=3D", "=");
    assert_eq!(unfolded.matches(unsubscribe).count(), 3, "header, text and HTML: {data}");
    assert!(data.contains("Message-ID: <email.7@osts.example>"), "{data}");
}

#[tokio::test]
async fn a_refused_connection_is_transient() {
    // Bind then drop: nothing listens on the port any more.
    let port = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap().port();
    let err = mailer(port).send(&email(1)).await.unwrap_err();
    assert!(matches!(err, DeliveryError::Later { at: None, .. }), "{err:?}");
    assert!(!err.to_string().contains("student1"), "errors never name the address");
}

#[tokio::test]
async fn the_file_backend_writes_one_eml_per_job() {
    let dir = tempfile::tempdir().unwrap();
    let m = LettreMailer::files(
        dir.path().join("outbox-mail"),
        "support@osts.example",
        mailer::Links::new("http://127.0.0.1:8080"),
    )
    .unwrap();
    m.send(&email(3)).await.unwrap();
    m.send(&email(3)).await.unwrap();
    let files: Vec<_> = std::fs::read_dir(dir.path().join("outbox-mail")).unwrap().collect();
    assert_eq!(files.len(), 1, "the idempotency key names the file, so a resend overwrites");
    let text = std::fs::read_to_string(files[0].as_ref().unwrap().path()).unwrap();
    assert!(text.contains("To: \"Student 3\" <student3@uni.edu>"), "{text}");
}

/// An in-memory outbox with the store's semantics for the worker tests.
#[derive(Default)]
struct MemoryOutbox {
    jobs: Mutex<Vec<(ClaimedDelivery, DeliveryStatus, DateTime<Utc>)>>,
}

#[async_trait]
impl OutboxRepository for MemoryOutbox {
    async fn claim(&self, now: DateTime<Utc>, _lease: Duration, limit: u32) -> anyhow::Result<Vec<ClaimedDelivery>> {
        let mut jobs = self.jobs.lock().unwrap();
        let mut out = Vec::new();
        for (job, status, due) in jobs.iter_mut() {
            if *status == DeliveryStatus::Pending && *due <= now && out.len() < limit as usize {
                *status = DeliveryStatus::Sending;
                job.attempts += 1;
                out.push(job.clone());
            }
        }
        Ok(out)
    }
    async fn mark_sent(&self, id: DeliveryId, _at: DateTime<Utc>) -> anyhow::Result<()> {
        self.set(id, DeliveryStatus::Sent, None);
        Ok(())
    }
    async fn retry_later(
        &self,
        id: DeliveryId,
        next: DateTime<Utc>,
        _e: &str,
        _at: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        self.set(id, DeliveryStatus::Pending, Some(next));
        Ok(())
    }
    async fn mark_dead(&self, id: DeliveryId, _e: &str, _at: DateTime<Utc>) -> anyhow::Result<()> {
        self.set(id, DeliveryStatus::Dead, None);
        Ok(())
    }
    async fn release(&self, id: DeliveryId, _at: DateTime<Utc>) -> anyhow::Result<()> {
        self.set(id, DeliveryStatus::Pending, None);
        Ok(())
    }
    async fn dead_letters(&self, _channel: Option<Channel>, _limit: u32) -> anyhow::Result<Vec<DeadLetter>> {
        Ok(vec![])
    }
    async fn enqueue(
        &self,
        _key: &str,
        _ticket: TicketId,
        _job: &IntegrationJob,
        _at: DateTime<Utc>,
    ) -> anyhow::Result<Option<DeliveryId>> {
        anyhow::bail!("this outbox holds emails only")
    }
    async fn retry(&self, _id: DeliveryId, _at: DateTime<Utc>) -> anyhow::Result<bool> {
        Ok(false)
    }
    async fn enqueue_digests(
        &self,
        _day: chrono::NaiveDate,
        _since: DateTime<Utc>,
        _until: DateTime<Utc>,
        _now: DateTime<Utc>,
    ) -> anyhow::Result<u64> {
        Ok(0)
    }
}

/// Tokens that name their user and scope, unsigned (the worker only passes them on).
struct PlainTokens;

impl UnsubscribeTokens for PlainTokens {
    fn sign(&self, user: UserId, scope: UnsubscribeScope) -> String {
        format!("v1.{}.{}.MAC", user.get(), scope.as_str())
    }
    fn verify(&self, _token: &str) -> Option<(UserId, UnsubscribeScope)> {
        None
    }
}

impl MemoryOutbox {
    fn with_jobs(n: i64, due: DateTime<Utc>) -> Self {
        let jobs = (1..=n)
            .map(|i| {
                let e = email(i);
                let job = ClaimedDelivery {
                    id: DeliveryId::new(i),
                    idempotency_key: e.idempotency_key,
                    attempts: 0,
                    payload: DeliveryPayload::Email(EmailPayload {
                        recipient: e.recipient,
                        to: e.to,
                        to_name: e.to_name,
                        kind: e.kind,
                        ticket_id: e.ticket_id,
                        ticket_title: e.ticket_title,
                        payload: e.payload,
                        digest: None,
                    }),
                };
                (job, DeliveryStatus::Pending, due)
            })
            .collect();
        Self { jobs: Mutex::new(jobs) }
    }
    fn set(&self, id: DeliveryId, status: DeliveryStatus, due: Option<DateTime<Utc>>) {
        let mut jobs = self.jobs.lock().unwrap();
        let job = jobs.iter_mut().find(|j| j.0.id == id).unwrap();
        job.1 = status;
        if let Some(due) = due {
            job.2 = due;
        }
    }
    fn statuses(&self) -> Vec<DeliveryStatus> {
        self.jobs.lock().unwrap().iter().map(|j| j.1).collect()
    }
}

fn worker(outbox: Arc<MemoryOutbox>, port: u16, clock: Arc<ManualClock>, max_attempts: u32) -> DeliveryWorker {
    let settings = WorkerSettings {
        batch: 50,
        lease: Duration::minutes(5),
        email: RetryPolicy {
            max_attempts,
            backoff: Backoff { base: Duration::seconds(10), max: Duration::minutes(10) },
        },
        ..WorkerSettings::default()
    };
    let channels = Channels::new(Arc::new(mailer(port)));
    DeliveryWorker::new(outbox, channels, Arc::new(PlainTokens), clock, Arc::new(|| 1.0), settings)
}

#[tokio::test]
async fn while_smtp_refuses_jobs_back_off_then_each_email_arrives_exactly_once() {
    let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let clock = Arc::new(ManualClock::new(start));
    let outbox = Arc::new(MemoryOutbox::with_jobs(5, start));
    // Reserve a port, then close it: connections are refused until the sink starts on it.
    let port = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap().port();
    let w = worker(outbox.clone(), port, clock.clone(), 5);

    let first = w.deliver_due(&Stop::never()).await.unwrap();
    assert_eq!(first, DeliveryReport { sent: 0, retried: 5, dead: 0, released: 0, throttled: 0 });
    assert_eq!(w.deliver_due(&Stop::never()).await.unwrap().handled(), 0, "nothing is due before the backoff");
    clock.advance(Duration::seconds(10));
    assert_eq!(w.deliver_due(&Stop::never()).await.unwrap().retried, 5, "second attempt after 10 s");
    clock.advance(Duration::seconds(10));
    assert_eq!(w.deliver_due(&Stop::never()).await.unwrap().handled(), 0, "the third waits 20 s");

    let inbox = Arc::new(Mutex::new(Vec::new()));
    let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    tokio::spawn(sink(listener, inbox.clone()));
    clock.advance(Duration::seconds(10));
    assert_eq!(
        w.deliver_due(&Stop::never()).await.unwrap(),
        DeliveryReport { sent: 5, retried: 0, dead: 0, released: 0, throttled: 0 }
    );
    clock.advance(Duration::hours(1));
    assert_eq!(w.deliver_due(&Stop::never()).await.unwrap().handled(), 0);

    let got = inbox.lock().unwrap().clone();
    let mut to: Vec<String> = got.iter().flat_map(|r| r.rcpt.clone()).collect();
    to.sort();
    let expected: Vec<String> = (1..=5).map(|i| format!("student{i}@uni.edu")).collect();
    assert_eq!(to, expected, "every email exactly once");
    assert!(outbox.statuses().iter().all(|s| *s == DeliveryStatus::Sent));
}

#[tokio::test]
async fn after_the_last_attempt_a_job_is_a_dead_letter() {
    let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let clock = Arc::new(ManualClock::new(start));
    let outbox = Arc::new(MemoryOutbox::with_jobs(1, start));
    let port = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap().port();
    let w = worker(outbox.clone(), port, clock.clone(), 3);
    let mut reports = Vec::new();
    for _ in 0..3 {
        reports.push(w.deliver_due(&Stop::never()).await.unwrap());
        clock.advance(Duration::minutes(10));
    }
    assert_eq!(reports.iter().map(|r| (r.retried, r.dead)).collect::<Vec<_>>(), vec![(1, 0), (1, 0), (0, 1)]);
    assert_eq!(outbox.statuses(), vec![DeliveryStatus::Dead]);
}
