//! Resident memory of concurrent sign-ins with production parameters (19 MiB per hash).
//!
//! Alone in its test binary, so the process's memory is this test's. Linux only: it reads
//! `/proc/self/status`.
#![cfg(target_os = "linux")]

use credentials::{Argon2Hasher, HashingLimits};

use domain::accounts::{HashError, Password, PasswordHasher as _};

const MIB: u64 = 1024 * 1024;
/// One production hash's memory.
const HASH_MEMORY: u64 = 19 * MIB;

/// A field of `/proc/self/status` in bytes (`VmRSS`: resident now; `VmHWM`: the peak).
fn status_bytes(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status.lines().find(|l| l.starts_with(field)).unwrap_or_else(|| panic!("{field} missing"));
    let kib: u64 = line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).expect("a number of kB");
    kib * 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_concurrent_sign_ins_stay_bounded_and_give_memory_back() {
    let limits = HashingLimits { slots: 2, queue: 30 };
    let hasher = Argon2Hasher::with_limits(limits);
    let password = Password::new("correct horse battery").unwrap();
    let stored = hasher.hash(&password).await.unwrap();
    let idle = status_bytes("VmRSS:");

    // Without the bound this starts 64 hashes at once: 64 × 19 MiB = 1.2 GiB.
    let results =
        futures_util::future::join_all((0..64).map(|_| async { hasher.verify(&password, &stored).await })).await;
    let ok = results.iter().filter(|r| matches!(r, Ok(true))).count();
    let busy = results
        .iter()
        .filter(|r| matches!(r, Err(HashError::Busy { retry_after_secs }) if *retry_after_secs > 0))
        .count();
    assert_eq!(ok, limits.slots + limits.queue, "every admitted sign-in is checked");
    assert_eq!(busy, 64 - ok, "the others are refused at once, not queued");

    let peak = status_bytes("VmHWM:");
    assert!(
        peak <= idle + (limits.slots as u64 + 1) * HASH_MEMORY + 16 * MIB,
        "peak resident memory {} MiB over an idle {} MiB: more than {} hashes' worth",
        peak / MIB,
        idle / MIB,
        limits.slots
    );
    // The burst is over: its buffers are gone, not kept for the next one.
    let after = status_bytes("VmRSS:");
    eprintln!("resident memory: idle {} MiB, peak {} MiB, after {} MiB", idle / MIB, peak / MIB, after / MIB);
    assert!(
        after <= idle + HASH_MEMORY / 2,
        "resident memory {} MiB after the burst, {} MiB before: hashing memory was kept",
        after / MIB,
        idle / MIB
    );
}
