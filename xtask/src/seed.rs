//! Realistic demo data for a large online degree program.

use anyhow::{bail, Context as _};
use chrono::{Duration, Utc};
use domain::accounts::*;
use domain::actor::Actor;
use domain::categories::{CategoryName, NewCategory};
use domain::conversation::NewReply;
use domain::faq::{NewFaqEntry, Question};
use domain::tickets::*;
use indicatif::{ProgressBar, ProgressStyle};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

const CATEGORIES: &[(&str, &str)] = &[
    ("Admissions & Enrolment", "Qualifier, admission letters, enrolment and course registration"),
    ("Exams & Grades", "Quizzes, end-term exams, hall tickets, grades and re-evaluation"),
    ("Course Content", "Lectures, assignments, notes and errors in course material"),
    ("Fees & Payments", "Fee payment, receipts, refunds and scholarships"),
    ("Portal & Technical", "Sign-in, the learning portal, video playback and email"),
    ("Certificates & Documents", "Transcripts, certificates, bonafide letters and ID cards"),
    ("Projects & Internships", "Project submissions, vivas and internship approvals"),
];

/// (category index, title, description) with `{c}` for a course, `{w}` for a week.
const CONCERNS: &[(usize, &str, &str)] = &[
    (0, "Admission letter not received after qualifier", "I cleared the qualifier exam but have not received my admission letter yet. My application status still shows *under review*."),
    (0, "Cannot register for {c} this term", "The registration page says the course is full, but the seat count shows seats available."),
    (0, "Course registration deadline extension request", "I was in hospital during the registration window. Can the deadline be extended for me?"),
    (0, "Wrong level shown on my profile", "My profile shows Foundation level although I completed it last term."),
    (1, "Quiz {w} grade missing for {c}", "I wrote quiz {w} for {c} but my score is not visible on the dashboard."),
    (1, "Hall ticket not generated for end-term exam", "The hall ticket download button is greyed out. The exam is next week."),
    (1, "Re-evaluation request for {c} end-term", "I believe question 7 was graded incorrectly. How do I apply for re-evaluation?"),
    (1, "Exam centre change request", "I moved cities and need to change my exam centre for the upcoming end-term."),
    (1, "Grade for {c} shows absent although I attended", "I attended the in-person exam for {c} and signed the attendance sheet, but my grade says *absent*."),
    (1, "Online proctored quiz disconnected mid-way", "My proctored quiz for {c} disconnected after 20 minutes and did not let me rejoin."),
    (2, "Week {w} lecture video of {c} is not playing", "The week {w} lecture video for {c} stops at 3:12 with a playback error."),
    (2, "Error in graded assignment {w} of {c}", "Question 4 of graded assignment {w} has two correct options but accepts only one."),
    (2, "Assignment {w} deadline passed before content release", "The week {w} content for {c} was released after the assignment deadline."),
    (2, "Notes for {c} week {w} missing", "The lecture notes PDF for week {w} is a broken link."),
    (2, "Programming assignment autograder failing for {c}", "My solution passes all public test cases locally but the autograder reports a timeout."),
    (3, "Fee paid but portal shows payment pending", "I paid the term fee via net banking three days ago; the amount was debited but the portal still shows pending."),
    (3, "Refund for dropped course {c}", "I dropped {c} within the first two weeks. When will the refund be processed?"),
    (3, "Fee receipt not downloadable", "The fee receipt download gives an empty file."),
    (3, "Scholarship amount not applied to fee", "My fee waiver was approved but the full fee is still shown as due."),
    (4, "Cannot sign in to the student portal", "After resetting my password I get redirected back to the sign-in page in a loop."),
    (4, "Student email account locked", "My student email account says it is locked due to suspicious activity."),
    (4, "Portal very slow during quiz hours", "Pages take more than a minute to load during quiz windows."),
    (4, "Two-factor codes not arriving", "I do not receive the verification code by SMS or email."),
    (5, "Transcript request pending for weeks", "I requested an official transcript a month ago and it still says *processing*."),
    (5, "Name misspelt on certificate", "My name is misspelt on the foundation certificate. How can it be corrected?"),
    (5, "Bonafide certificate needed for visa", "I need a bonafide certificate urgently for a visa appointment."),
    (5, "Student ID card not received", "I have not received my student ID card by post."),
    (6, "Project viva slot not allotted", "The project viva slots were published but my name is not in the list."),
    (6, "Internship approval form rejected without reason", "My internship approval form was rejected with no comment."),
    (6, "Cannot upload project report larger than 10 MB", "The project report upload fails for files above 10 MB; mine is 14 MB with figures."),
];

/// Resolutions by category, in the voice of the support team.
const ANSWERS: &[&str] = &[
    "Your admission letter has been re-issued; check the *Documents* tab of the portal.",
    "The grade has been corrected after checking the answer sheet. It shows on your dashboard now.",
    "The course team fixed the material; the corrected version is live in the week's unit.",
    "The payment was reconciled with the bank; your receipt is available under *Fees*.",
    "We reset your portal session; sign out everywhere and sign in again.",
    "The document is ready: download it from the *Certificates* section.",
    "Your slot is allotted; details are in the project dashboard.",
];

/// (concern, question, also asked, answer, tags) of a seeded FAQ entry.
type FaqSpec = (usize, &'static str, &'static [&'static str], &'static str, &'static [&'static str]);

/// Tickets every seed has, whatever the random draw: the examples the README and the tests
/// refer to. (category index, title, description, votes, priority)
const ANCHORS: &[(usize, &str, &str, usize, Priority)] = &[(
    1,
    "Hall ticket not downloadable for Quiz 1",
    "The hall ticket for Quiz 1 is not downloadable: the portal says *not available yet* although the quiz is \
     this Sunday. Without it I cannot enter the quiz centre.",
    31,
    Priority::High,
)];

/// Published FAQ entries (the last one stays a draft), each made from the resolved tickets of
/// one concern (an index into [`CONCERNS`]).
const FAQ: &[FaqSpec] = &[
    (
        15,
        "I paid the fee but the portal still shows the payment as pending",
        &["Fee debited from my bank account but not updated on the portal"],
        "Payments are reconciled with the bank **within three working days**. If the amount was debited \
         and the portal still shows *pending* after that, raise a ticket in *Fees & Payments* with the bank \
         reference number; do not pay a second time.",
        &["fees", "payment"],
    ),
    (
        19,
        "Signing in to the student portal keeps sending me back to the sign-in page",
        &["Sign-in loop after resetting my password"],
        "Sign out of every tab, clear the site's cookies (or use a private window) and sign in again. A \
         password reset takes up to 15 minutes to reach the portal; until then the old session redirects \
         you back.",
        &["portal", "sign-in"],
    ),
    (
        6,
        "How do I apply for re-evaluation of an end-term exam?",
        &["I think my end-term answer was graded incorrectly"],
        "Apply from *Grades → Re-evaluation* within **7 days** of the results. Name the question and why you \
         think the grading is wrong; the fee is refunded if your grade changes.",
        &["exams", "re-evaluation"],
    ),
    (
        24,
        "How do I correct my name on a certificate?",
        &["My name is misspelt on my certificate"],
        "Upload a government ID showing the correct spelling under *Documents → Correction request*. The \
         corrected certificate is issued within two weeks and the old one is revoked.",
        &["certificates"],
    ),
    (
        10,
        "A lecture video stops with a playback error",
        &["Lecture video not playing"],
        "Switch the player's quality to *Auto* and disable browser extensions that block scripts. If it still \
         stops at the same point, the video is being re-encoded: the course team is told automatically and the \
         fixed video is up within a day.",
        &["course-content", "video"],
    ),
    (
        14,
        "The autograder reports a timeout but my program passes locally",
        &["Programming assignment autograder failing"],
        "The autograder runs the private test cases, which are larger than the public ones, with a **2 second \
         limit** per case. Check the complexity of your solution; printing inside loops also slows it down.",
        &["course-content", "programming"],
    ),
    (
        16,
        "When is the fee refunded for a course I dropped?",
        &["Refund for a dropped course"],
        "Courses dropped in the first two weeks are refunded in full to the account you paid from, within \
         **30 days** of the end of the drop window.",
        &["fees", "refund"],
    ),
    (
        27,
        "My name is not in the project viva list",
        &[],
        "Viva slots are allotted only for submitted projects. Check that your report's status is *submitted* \
         (not *draft*) in the project dashboard.",
        &["projects"],
    ),
];

const COURSES: &[&str] = &[
    "Mathematics I",
    "Statistics I",
    "Computational Thinking",
    "English I",
    "Python Programming",
    "Database Systems",
    "Data Structures",
    "Machine Learning Foundations",
    "Business Analytics",
    "Java",
];

pub async fn run(url: &str, tickets: u32, seed: u64) -> anyhow::Result<()> {
    let store = store::Store::connect(url).await?;
    if !store.categories().list().await?.is_empty() {
        bail!("the database already has data; run `cargo xtask db fresh` first to start over");
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let password = std::env::var("OSTS_SEED_PASSWORD").unwrap_or_else(|_| {
        let words = ["maple", "orbit", "quartz", "lantern", "meadow", "copper", "harbor", "violet"];
        format!(
            "{}-{}-{}-{}",
            words[rng.gen_range(0..8)],
            words[rng.gen_range(0..8)],
            rng.gen_range(1000..9999),
            words[rng.gen_range(0..8)]
        )
    });
    let hash = {
        use domain::accounts::PasswordHasher as _;
        credentials::Argon2Hasher::new().hash(&Password::new(&password)?).await?
    };
    let now = Utc::now();
    let bar = ProgressBar::new(u64::from(tickets) + 80);
    bar.set_style(ProgressStyle::with_template("{bar:40} {pos}/{len} {msg}")?);

    let accounts = store.accounts();
    let insert = |email: String, name: String, role: Role, status: AccountStatus| {
        let accounts = accounts.clone();
        let hash = hash.clone();
        async move {
            accounts
                .insert(NewAccount {
                    email: Email::parse(&email)?,
                    display_name: DisplayName::parse(&name)?,
                    role,
                    status,
                    email_confirmed_at: Some(now - Duration::days(90)),
                    password_hash: hash,
                    created_at: now - Duration::days(90),
                })
                .await
                .with_context(|| format!("inserting {email}"))
        }
    };
    bar.set_message("accounts");
    let admin = insert("admin@osts.local".into(), "Program Admin".into(), Role::Admin, AccountStatus::Active).await?;
    let mut support = Vec::new();
    for (i, name) in ["Priya Raman", "Arjun Mehta", "Sara Thomas", "Vikram Iyer"].iter().enumerate() {
        support.push(
            insert(format!("support{}@osts.local", i + 1), (*name).into(), Role::Support, AccountStatus::Active)
                .await?,
        );
        bar.inc(1);
    }
    const FIRST: &[&str] =
        &["Aditi", "Rahul", "Meera", "Karan", "Divya", "Rohan", "Ananya", "Nikhil", "Ishita", "Varun", "Sneha", "Aman"];
    const LAST: &[&str] = &["Sharma", "Nair", "Gupta", "Reddy", "Das", "Kapoor", "Joshi", "Menon"];
    let mut students = Vec::new();
    for i in 0..72 {
        let name = format!("{} {}", FIRST[i % FIRST.len()], LAST[(i / FIRST.len()) % LAST.len()]);
        students.push(
            insert(format!("student{:02}@study.uni.edu", i + 1), name, Role::Student, AccountStatus::Active).await?,
        );
        bar.inc(1);
    }
    for i in 0..3 {
        insert(
            format!("applicant{}@study.uni.edu", i + 1),
            format!("New Applicant {}", i + 1),
            Role::Student,
            AccountStatus::Pending,
        )
        .await?;
    }
    insert("new.support@osts.local".into(), "New Support Member".into(), Role::Support, AccountStatus::Pending).await?;

    bar.set_message("categories");
    let mut categories = Vec::new();
    for (i, (name, description)) in CATEGORIES.iter().enumerate() {
        let position = i32::try_from(i)?;
        categories.push(
            store
                .categories()
                .insert(NewCategory { name: CategoryName::parse(name)?, description: (*description).into(), position })
                .await
                .map_err(|e| anyhow::anyhow!("inserting category {name}: {e}"))?,
        );
    }

    bar.set_message("tickets");
    for (cat, title, description, votes, priority) in ANCHORS {
        let creator = students.choose(&mut rng).expect("students exist");
        let created_at = now - Duration::days(2);
        let ticket = store
            .tickets()
            .create(NewTicket {
                title: Title::parse(title)?,
                description: Description::parse(description)?,
                category_id: categories[*cat].id,
                tags: Tags::parse(&["exams".to_string()])?,
                priority: *priority,
                creator_id: creator.id,
                created_at,
                follow_up_of: None,
                sla_due: None,
                escalation: None,
            })
            .await?;
        for (i, voter) in students.iter().filter(|s| s.id != creator.id).take(*votes).enumerate() {
            store.votes().cast(ticket.id(), voter.id, created_at + Duration::minutes(10 * i as i64 + 1)).await?;
        }
    }
    // The resolved tickets of each concern, with their votes: the FAQ is made from them.
    let mut resolved: Vec<(usize, TicketId, usize)> = Vec::new();
    for n in 0..tickets {
        let concern = rng.gen_range(0..CONCERNS.len());
        let (cat, title, description) = CONCERNS[concern];
        let course = COURSES[rng.gen_range(0..COURSES.len())];
        let week = rng.gen_range(1..=12).to_string();
        let fill = |s: &str| s.replace("{c}", course).replace("{w}", &week);
        let creator = students.choose(&mut rng).expect("students exist");
        let age_minutes = rng.gen_range(10..60 * 24 * 60);
        let created_at = now - Duration::minutes(age_minutes);
        let priority = *[Priority::Low, Priority::Medium, Priority::Medium, Priority::Medium, Priority::High]
            .choose(&mut rng)
            .expect("non-empty");
        let tags: Vec<String> = match cat {
            1 => vec!["exams".into()],
            2 => vec!["course-content".into(), course.to_lowercase().replace(' ', "-")],
            3 => vec!["fees".into()],
            4 => vec!["portal".into()],
            _ => vec![],
        };
        let ticket = store
            .tickets()
            .create(NewTicket {
                title: Title::parse(&fill(title))?,
                description: Description::parse(&fill(description))?,
                category_id: categories[cat].id,
                tags: Tags::parse(&tags)?,
                priority,
                creator_id: creator.id,
                created_at,
                follow_up_of: None,
                sla_due: None,
                escalation: None,
            })
            .await?;
        // A few concerns are shared by many: votes follow a long tail.
        let voters =
            if n % 17 == 0 { rng.gen_range(15..45) } else { (rng.gen_range(0.0f64..1.0).powi(3) * 12.0) as usize };
        for voter in students.choose_multiple(&mut rng, voters) {
            if voter.id != creator.id {
                let at = created_at + Duration::minutes(rng.gen_range(1..=age_minutes.max(2)));
                store.votes().cast(ticket.id(), voter.id, at.min(now)).await?;
            }
        }
        // Older tickets have moved along the workflow.
        let staff = support.choose(&mut rng).expect("support exists");
        let path: &[Status] = match (age_minutes > 60 * 24 * 7, rng.gen_range(0..10)) {
            (true, 0..=3) => &[Status::InProgress, Status::Resolved],
            (true, 4) => &[Status::InProgress, Status::Resolved, Status::Closed],
            (_, 0..=2) => &[Status::InProgress],
            _ => &[],
        };
        let mut current = ticket;
        let mut at = created_at;
        for next in path {
            at += Duration::minutes(rng.gen_range(30..60 * 48)).min(now - at);
            let transition = match next {
                Status::InProgress => current.claim(staff.id, at)?,
                Status::Resolved => {
                    current.resolve(staff.id, Answer::parse(ANSWERS[cat % ANSWERS.len()], "answer")?, at)?
                }
                other => current.edit(&[TicketEdit::Status(*other)], at)?,
            };
            current = store.tickets().update(transition, Actor::User(staff.id)).await?;
            if *next == Status::InProgress {
                store
                    .replies()
                    .add(NewReply {
                        ticket_id: current.id(),
                        author: staff.id,
                        body: Answer::parse("Thanks for raising this. We are looking into it.", "body")?,
                        internal: false,
                        created_at: at,
                    })
                    .await?;
            }
        }
        if matches!(current.status(), Status::Resolved | Status::Closed) {
            resolved.push((concern, current.id(), voters));
        }
        bar.inc(1);
    }

    bar.set_message("faq");
    let mut published = 0;
    for (i, (concern, question, also_asked, answer, tags)) in FAQ.iter().enumerate() {
        if !resolved.iter().any(|(c, ..)| c == concern) {
            // Few tickets were asked for: raise and resolve one of this concern, so that every
            // entry is made from a resolved ticket as curators do.
            let (cat, title, description) = CONCERNS[*concern];
            let fill = |s: &str| s.replace("{c}", COURSES[0]).replace("{w}", "1");
            let staff = support.choose(&mut rng).expect("support exists");
            let creator = students.choose(&mut rng).expect("students exist");
            let raised_at = now - Duration::days(20);
            let ticket = store
                .tickets()
                .create(NewTicket {
                    title: Title::parse(&fill(title))?,
                    description: Description::parse(&fill(description))?,
                    category_id: categories[cat].id,
                    tags: Tags::default(),
                    priority: Priority::Medium,
                    creator_id: creator.id,
                    created_at: raised_at,
                    follow_up_of: None,
                    sla_due: None,
                    escalation: None,
                })
                .await?;
            let resolved_at = raised_at + Duration::days(1);
            let answer = Answer::parse(ANSWERS[cat % ANSWERS.len()], "answer")?;
            let ticket =
                store.tickets().update(ticket.resolve(staff.id, answer, resolved_at)?, Actor::User(staff.id)).await?;
            resolved.push((*concern, ticket.id(), 0));
        }
        let mut sources: Vec<(TicketId, usize)> =
            resolved.iter().filter(|(c, ..)| c == concern).map(|(_, id, votes)| (*id, *votes)).collect();
        sources.sort_by_key(|(id, votes)| (std::cmp::Reverse(*votes), *id));
        let at = now - Duration::days(1);
        let entry = store
            .faq()
            .insert(NewFaqEntry {
                question: Question::parse(question)?,
                also_asked: also_asked.iter().map(|q| Question::parse(q)).collect::<Result<_, _>>()?,
                answer: Answer::parse(answer, "answer")?,
                category_id: categories[CONCERNS[*concern].0].id,
                tags: Tags::parse(&tags.iter().map(|t| t.to_string()).collect::<Vec<_>>())?,
                position: i32::try_from(i)?,
                sources: sources.iter().take(3).map(|(id, _)| *id).collect(),
                author_id: admin.id,
                at,
            })
            .await?;
        if i + 1 < FAQ.len() {
            store.faq().publish(entry.id, admin.id, at).await?;
            published += 1;
        }
    }
    bar.finish_with_message("done");
    store.close().await?;
    println!(
        "Seeded {} categories, {} students, {} support members, 1 admin, {} tickets and {} FAQ entries \
         ({published} published).",
        categories.len(),
        students.len(),
        support.len(),
        tickets as usize + ANCHORS.len(),
        FAQ.len(),
    );
    println!(
        "Sign in as admin@osts.local, support1@osts.local or student01@study.uni.edu with the password: {password}"
    );
    println!("(set OSTS_SEED_PASSWORD to choose it)");
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use domain::clock::SystemClock;
    use domain::similarity::{Draft, Suggested, SuggestionLimit};

    use super::*;

    /// The seed in a fresh SQLite file, and the services over it (lexical ranking: no model).
    async fn seeded() -> (domain::Services, store::Store, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("osts-seed-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.join("seed.db").display());
        run(&url, 120, 42).await.unwrap();
        let store = store::Store::connect(&url).await.unwrap();
        let adapters = domain::services::Adapters {
            hasher: Arc::new(credentials::Argon2Hasher::new()),
            tokens: Arc::new(credentials::RandomTokens),
            throttle: Arc::new(credentials::GovernorThrottle::new(5, 30)),
            resend_throttle: Arc::new(credentials::GovernorThrottle::new(3, 20)),
            blobs: Arc::new(blobs::FsBlobStore::new(dir.join("blobs"))),
            unsubscribe: Arc::new(credentials::HmacUnsubscribeTokens::new(
                credentials::SecretKey::new("test key, not a secret: 0123456789abcdef").unwrap(),
            )),
            clock: Arc::new(SystemClock),
        };
        let ports = domain::Ports::new(store.repositories(), adapters, domain::services::Semantic::off());
        (domain::Services::new(ports, domain::ServiceSettings::default()), store, dir)
    }

    #[tokio::test]
    async fn a_student_drafting_a_seeded_concern_sees_it_first_and_the_faq_is_there() {
        let (services, store, dir) = seeded().await;
        let student = store
            .accounts()
            .find_credentials(&Email::parse("student05@study.uni.edu").unwrap())
            .await
            .unwrap()
            .expect("seeded student")
            .0;
        let principal = domain::testing::PrincipalBuilder::of(&student).build();

        let draft = Draft::parse("cant find my hall ticket for the quiz", "").unwrap();
        let found = services.similarity.suggest(&principal, &draft, SuggestionLimit::new(None).unwrap()).await.unwrap();
        let first = found.items.first().map(|s| &s.item);
        let Some(Suggested::Ticket { view, may_vote }) = first else { panic!("a ticket first, got {first:?}") };
        assert_eq!(view.ticket.title().as_str(), "Hall ticket not downloadable for Quiz 1");
        assert_eq!(view.ticket.vote_count(), 31);
        assert!(*may_vote || view.voted, "the student can +1 it from the suggestion");

        // The FAQ answers a concern before it is filed.
        let draft = Draft::parse("paid my fees but portal still says payment pending", "").unwrap();
        let found = services.similarity.suggest(&principal, &draft, SuggestionLimit::new(None).unwrap()).await.unwrap();
        let faq_rank = found.items.iter().position(|s| {
            matches!(&s.item, Suggested::Faq(f) if f.question.starts_with("I paid the fee but the portal still shows"))
        });
        assert!(faq_rank.is_some_and(|r| r < 3), "the FAQ entry among the first suggestions: {:?}", found.items);

        let faq = store
            .faq()
            .list(domain::faq::FaqQuery { state: domain::faq::FaqState::Published, category_id: None, text: None })
            .await
            .unwrap();
        assert_eq!(faq.len(), FAQ.len() - 1, "every entry but the last is published");
        assert!(faq.iter().all(|e| !e.sources.is_empty()), "each published entry is made from resolved tickets");
        store.close().await.unwrap();
        std::fs::remove_dir_all(dir).unwrap();
    }
}
