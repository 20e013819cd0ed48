//! Realistic demo data for a large online degree program.

use anyhow::{bail, Context as _};
use chrono::{Duration, Utc};
use domain::accounts::*;
use domain::categories::{CategoryName, NewCategory};
use domain::conversation::NewReply;
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
    insert("admin@osts.local".into(), "Program Admin".into(), Role::Admin, AccountStatus::Active).await?;
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
    for n in 0..tickets {
        let (cat, title, description) = CONCERNS[rng.gen_range(0..CONCERNS.len())];
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
            })
            .await?;
        // A few concerns are shared by many: votes follow a long tail.
        let voters =
            if n % 17 == 0 { rng.gen_range(15..45) } else { (rng.gen_range(0.0f64..1.0).powi(3) * 12.0) as usize };
        for voter in students.choose_multiple(&mut rng, voters) {
            if voter.id != creator.id {
                let at = created_at + Duration::minutes(rng.gen_range(1..=age_minutes.max(2)));
                store.votes().cast(ticket.id, voter.id, at.min(now)).await?;
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
            let mut updated = current.clone();
            updated.status = current.status.transition(*next)?;
            updated.updated_at = at;
            let mut changes = Vec::new();
            match next {
                Status::InProgress => {
                    updated.assignee = Some(UserRef { id: staff.id, display_name: String::new() });
                    changes.push(Change::AssigneeChanged { from: None, to: Some(staff.id.get()) });
                    changes
                        .push(Change::StatusChanged { from: current.status.as_str().into(), to: next.as_str().into() });
                }
                Status::Resolved => {
                    let answer = ANSWERS[cat % ANSWERS.len()];
                    updated.resolution = Some(Resolution {
                        answer: Answer::parse(answer, "answer")?,
                        resolved_by: staff.id,
                        resolved_at: at,
                    });
                    changes.push(Change::Resolved { answer: answer.into() });
                }
                _ => changes
                    .push(Change::StatusChanged { from: current.status.as_str().into(), to: next.as_str().into() }),
            }
            current = store.tickets().update(updated, changes, staff.id).await?;
            if *next == Status::InProgress {
                store
                    .replies()
                    .add(NewReply {
                        ticket_id: current.id,
                        author: staff.id,
                        body: Answer::parse("Thanks for raising this. We are looking into it.", "body")?,
                        internal: false,
                        created_at: at,
                    })
                    .await?;
            }
        }
        bar.inc(1);
    }
    bar.finish_with_message("done");
    store.close().await?;
    println!(
        "Seeded {} categories, {} students, {} support members, 1 admin and {tickets} tickets.",
        categories.len(),
        students.len(),
        support.len()
    );
    println!(
        "Sign in as admin@osts.local, support1@osts.local or student01@study.uni.edu with the password: {password}"
    );
    println!("(set OSTS_SEED_PASSWORD to choose it)");
    Ok(())
}
