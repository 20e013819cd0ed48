//! argon2id password hashing with bounded cost.
//!
//! One hash takes 19 MiB and tens of milliseconds of one core. Run without a bound, a burst
//! of sign-ins starts as many hashes as requests (each on a blocking thread with its own
//! 19 MiB) and they all crawl together on the few cores there are. So hashing runs on a
//! fixed number of slots (one per core by default) behind a short queue, and a request that
//! finds both full is refused at once with [`HashError::Busy`] (503 with `Retry-After`)
//! instead of waiting without bound. Each slot reuses one buffer of argon2 blocks while work
//! is queued, so a burst costs `slots × 19 MiB` however long it lasts; when the last hash
//! of a burst finishes, the buffers are freed, and since each is a memory mapping of its own
//! (see [`new_buffer`]) the memory goes back to the system.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use argon2::password_hash::{Output, ParamsString, PasswordHash as PhcHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use async_trait::async_trait;
use domain::accounts::{HashError, Password, PasswordHash, PasswordHasher};
use rand::rngs::OsRng;
use rand::RngCore;
use tokio::sync::Semaphore;

/// How much hashing may run at once, and how much may wait for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashingLimits {
    /// Hashes computed at the same time (each on a blocking thread with its own buffer).
    pub slots: usize,
    /// Requests that may wait for a slot; beyond them requests are refused as busy.
    pub queue: usize,
}

impl HashingLimits {
    /// One slot per core and a queue of 16 per slot: about half a second of waiting at
    /// most with today's parameters, and beyond that a quick, honest "busy".
    pub fn for_this_machine() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Self { slots: cores, queue: 16 * cores }
    }
}

/// argon2id with OWASP's recommended parameters (19 MiB, 2 passes, 1 lane), on a bounded
/// number of blocking threads (see the module documentation).
#[derive(Clone)]
pub struct Argon2Hasher {
    pool: Arc<Pool>,
    params: Params,
    /// A hash of a random password, verified against when the email is unknown.
    decoy: String,
}

/// The slots, the queue and the reusable buffers.
struct Pool {
    /// Requests admitted (running or queued); at most `slots + queue`.
    admitted: AtomicUsize,
    max_admitted: usize,
    running: Arc<Semaphore>,
    /// Buffers of `blocks` blocks not in use right now (at most one per slot).
    spare: Mutex<Vec<Vec<Block>>>,
    /// The buffer size for the configured parameters, in blocks.
    blocks: usize,
}

/// A buffer reserved larger than the largest size glibc's malloc ever serves from its heaps
/// (32 MiB, however its dynamic threshold moves), so that it is a mapping of its own, given
/// back to the system when freed; other allocators (musl, jemalloc, macOS) map an allocation
/// this large on its own too. Only the `blocks` used are ever touched, so only they become
/// resident.
fn new_buffer(blocks: usize) -> Vec<Block> {
    const OWN_MAPPING: usize = (33 << 20) / Block::SIZE;
    let mut buffer = Vec::with_capacity(blocks.max(OWN_MAPPING));
    buffer.resize(blocks, Block::default());
    buffer
}

/// Seconds a refused request is told to wait: a full queue drains in well under that.
const RETRY_AFTER_SECS: u64 = 1;

/// An admitted request; leaving (done or cancelled) frees its place, and the last one to
/// leave frees the spare buffers.
struct Admission(Arc<Pool>);

impl Drop for Admission {
    fn drop(&mut self) {
        if self.0.admitted.fetch_sub(1, Ordering::AcqRel) == 1 {
            // Nothing runs or waits: give the memory back rather than keep it for the next
            // burst. A request admitted meanwhile simply allocates a buffer of its own.
            let freed = std::mem::take(&mut *self.0.spare.lock().unwrap_or_else(PoisonError::into_inner));
            drop(freed);
        }
    }
}

impl Pool {
    fn admit(self: &Arc<Self>) -> Result<Admission, HashError> {
        self.admitted
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < self.max_admitted).then_some(n + 1))
            .map_err(|_| HashError::Busy { retry_after_secs: RETRY_AFTER_SECS })?;
        Ok(Admission(self.clone()))
    }

    fn take_buffer(&self, blocks: usize) -> Vec<Block> {
        let spare = self.spare.lock().unwrap_or_else(PoisonError::into_inner).pop();
        match spare {
            Some(mut buffer) => {
                buffer.resize(blocks, Block::default());
                buffer
            }
            None => new_buffer(blocks),
        }
    }

    fn give_back(&self, buffer: Vec<Block>) {
        // Buffers of other sizes (hashes stored with other parameters) are not kept.
        if buffer.len() == self.blocks {
            self.spare.lock().unwrap_or_else(PoisonError::into_inner).push(buffer);
        }
    }

    /// Runs `work` on a slot with a buffer of `blocks` blocks, or refuses at once when the
    /// slots and the queue are full.
    async fn run<T: Send + 'static>(
        self: &Arc<Self>,
        blocks: usize,
        work: impl FnOnce(&mut [Block]) -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let admission = self.admit()?;
        let slot = self.running.clone().acquire_owned().await.map_err(|e| HashError::Unknown(e.into()))?;
        let pool = self.clone();
        // The slot and the admission move into the blocking task: a caller that goes away
        // does not free them before the hash it started is finished.
        let result = tokio::task::spawn_blocking(move || {
            let mut buffer = pool.take_buffer(blocks);
            let out = work(&mut buffer);
            pool.give_back(buffer);
            drop(slot);
            drop(admission);
            out
        })
        .await
        .map_err(|e| HashError::Unknown(e.into()))?;
        Ok(result)
    }
}

impl Argon2Hasher {
    /// Production parameters and limits for this machine.
    pub fn new() -> Self {
        Self::with_limits(HashingLimits::for_this_machine())
    }

    /// Production parameters with the given limits.
    pub fn with_limits(limits: HashingLimits) -> Self {
        Self::build(Params::new(19 * 1024, 2, 1, None).expect("valid argon2 parameters"), limits)
    }

    /// Minimal parameters for tests: still argon2id, just cheap.
    pub fn fast_for_tests() -> Self {
        Self::build(
            Params::new(Params::MIN_M_COST.max(64), 1, 1, None).expect("valid argon2 parameters"),
            HashingLimits::for_this_machine(),
        )
    }

    fn build(params: Params, limits: HashingLimits) -> Self {
        let slots = limits.slots.max(1);
        let pool = Arc::new(Pool {
            admitted: AtomicUsize::new(0),
            max_admitted: slots + limits.queue,
            running: Arc::new(Semaphore::new(slots)),
            spare: Mutex::new(Vec::new()),
            blocks: params.block_count(),
        });
        let mut random = [0u8; 16];
        OsRng.fill_bytes(&mut random);
        let mut buffer = new_buffer(params.block_count());
        let decoy = hash_into(&params, &hex(&random), &mut buffer).expect("hashing a decoy cannot fail");
        Self { pool, params, decoy }
    }
}

impl Default for Argon2Hasher {
    fn default() -> Self {
        Self::new()
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A PHC string of `password` under `params` with a fresh salt, computed in `memory`.
fn hash_into(params: &Params, password: &str, memory: &mut [Block]) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    let mut salt_bytes = [0u8; 64];
    let salt_bytes = salt.decode_b64(&mut salt_bytes).map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let output = Output::init_with(params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN), |out| {
        Ok(argon2.hash_password_into_with_memory(password.as_bytes(), salt_bytes, out, &mut *memory)?)
    })
    .map_err(|e| anyhow::anyhow!("argon2 hashing failed: {e}"))?;
    let phc = PhcHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(|e| anyhow::anyhow!("argon2 parameters: {e}"))?,
        salt: Some(salt.as_salt()),
        hash: Some(output),
    };
    Ok(phc.to_string())
}

/// A stored hash, parsed: everything needed to recompute it.
struct Stored {
    algorithm: Algorithm,
    version: Version,
    params: Params,
    salt: Vec<u8>,
    expected: Output,
}

impl Stored {
    /// `None` for anything that is not an argon2 PHC string with a salt and a hash. The
    /// parameters stored in the string win, so old hashes keep verifying after a change.
    fn parse(phc: &str) -> Option<Self> {
        let parsed = PhcHash::new(phc).ok()?;
        let algorithm = Algorithm::try_from(parsed.algorithm).ok()?;
        let version = match parsed.version {
            Some(v) => Version::try_from(v).ok()?,
            None => Version::default(),
        };
        let params = Params::try_from(&parsed).ok()?;
        let mut buf = [0u8; 64];
        let salt = parsed.salt?.decode_b64(&mut buf).ok()?.to_vec();
        Some(Self { algorithm, version, params, salt, expected: parsed.hash? })
    }

    fn matches(&self, password: &str, memory: &mut [Block]) -> bool {
        let argon2 = Argon2::new(self.algorithm, self.version, self.params.clone());
        Output::init_with(self.expected.len(), |out| {
            Ok(argon2.hash_password_into_with_memory(password.as_bytes(), &self.salt, out, &mut *memory)?)
        })
        // `Output`'s equality is constant-time.
        .is_ok_and(|computed| computed == self.expected)
    }
}

#[async_trait]
impl PasswordHasher for Argon2Hasher {
    async fn hash(&self, password: &Password) -> Result<PasswordHash, HashError> {
        let params = self.params.clone();
        let password = password.clone();
        let phc =
            self.pool.run(params.block_count(), move |memory| hash_into(&params, password.expose(), memory)).await??;
        Ok(PasswordHash::new(phc))
    }

    async fn verify(&self, password: &Password, hash: &PasswordHash) -> Result<bool, HashError> {
        let Some(stored) = Stored::parse(hash.as_str()) else { return Ok(false) };
        let password = password.clone();
        self.pool.run(stored.params.block_count(), move |memory| stored.matches(password.expose(), memory)).await
    }

    async fn waste_time(&self, password: &Password) -> Result<(), HashError> {
        let decoy = PasswordHash::new(self.decoy.clone());
        self.verify(password, &decoy).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_are_argon2id_and_verify() {
        let hasher = Argon2Hasher::fast_for_tests();
        let pw = Password::new("correct horse battery").unwrap();
        let hash = hasher.hash(&pw).await.unwrap();
        assert!(hash.as_str().starts_with("$argon2id$v=19$"), "{}", hash.as_str());
        assert!(hasher.verify(&pw, &hash).await.unwrap());
        let wrong = Password::new("incorrect horse battery").unwrap();
        assert!(!hasher.verify(&wrong, &hash).await.unwrap());
        assert!(!hasher.verify(&pw, &PasswordHash::new("garbage".into())).await.unwrap());
        // Two hashes of one password differ (fresh salt).
        assert_ne!(hasher.hash(&pw).await.unwrap().as_str(), hash.as_str());
        hasher.waste_time(&pw).await.unwrap();
    }

    #[tokio::test]
    async fn production_hashes_keep_their_parameters_and_interoperate() {
        use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
        let hasher = Argon2Hasher::with_limits(HashingLimits { slots: 1, queue: 0 });
        let pw = Password::new("correct horse battery").unwrap();
        let ours = hasher.hash(&pw).await.unwrap();
        assert!(ours.as_str().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{}", ours.as_str());
        // The argon2 crate's own verifier accepts our strings, and we accept its strings,
        // including ones made with other parameters (which win over ours).
        let parsed = PhcHash::new(ours.as_str()).unwrap();
        assert!(Argon2::default().verify_password(b"correct horse battery", &parsed).is_ok());
        let other = Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::new(8 * 1024, 1, 2, None).unwrap());
        let salt = SaltString::generate(&mut OsRng);
        let theirs = other.hash_password(b"correct horse battery", &salt).unwrap();
        assert!(hasher.verify(&pw, &PasswordHash::new(theirs.to_string())).await.unwrap());
        let wrong = Password::new("correct horse battery!").unwrap();
        assert!(!hasher.verify(&wrong, &PasswordHash::new(theirs.to_string())).await.unwrap());
    }

    #[tokio::test]
    async fn beyond_the_slots_and_the_queue_requests_are_refused_at_once() {
        let hasher = Argon2Hasher::with_limits(HashingLimits { slots: 1, queue: 2 });
        let pw = Password::new("correct horse battery").unwrap();
        let hash = hasher.hash(&pw).await.unwrap();
        // All six are admitted or refused in join_all's first poll, before any hash ends.
        let results = futures_util::future::join_all((0..6).map(|_| hasher.verify(&pw, &hash))).await;
        let busy = results.iter().filter(|r| matches!(r, Err(HashError::Busy { retry_after_secs: 1 }))).count();
        let ok = results.iter().filter(|r| matches!(r, Ok(true))).count();
        assert_eq!((ok, busy), (3, 3), "one running and two queued succeed, the rest are busy");
        // The places are free again afterwards.
        assert!(hasher.verify(&pw, &hash).await.unwrap());
        assert!(matches!(
            futures_util::future::join_all((0..4).map(|_| hasher.waste_time(&pw))).await.as_slice(),
            [Ok(()), Ok(()), Ok(()), Err(HashError::Busy { .. })]
        ));
    }
}
