//! `strongroom audit verify`: checks the chain, the digests' signatures and the sequence of
//! files, as CloudTrail's log file integrity validation does for its logs.
//!
//! What it proves: every record before a file's last signed digest is exactly as written, in
//! order, none added or removed; a file that was closed still ends with its final digest; no
//! file is missing between the first and the last given. What it cannot: records after the last
//! digest of a file that was never closed (reported as unsigned), and a newest file cut back to
//! an earlier digest or removed whole — nothing after it names it (docs/audit.md).

use std::path::{Path, PathBuf};

use crate::chain::{self, Chain, Digest, Header, Line, PublicKey};

/// What one file came to.
#[derive(Debug, Clone)]
pub struct FileReport {
    pub path: PathBuf,
    pub header: Option<Header>,
    /// Record lines in the file.
    pub records: u64,
    /// Records covered by its last valid digest.
    pub signed_records: u64,
    /// Its last digest, when that verified.
    pub last_digest: Option<Digest>,
    /// Whether it ends with a final digest.
    pub closed: bool,
    /// It ends without a newline (a torn last write, or a cut).
    pub partial_last_line: bool,
    /// Evidence of tampering (or damage).
    pub problems: Vec<String>,
}

impl FileReport {
    fn name(&self) -> String {
        self.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| self.path.display().to_string())
    }

    fn sequence(&self) -> Option<u64> {
        self.header.as_ref().map(|h| h.sequence)
    }
}

/// What a set of files came to.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub files: Vec<FileReport>,
    /// Evidence of tampering across files (a gap, a truncated file).
    pub problems: Vec<String>,
    /// What cannot be vouched for, without evidence of tampering (unsigned records of a file
    /// still being written or left open by a crash).
    pub warnings: Vec<String>,
}

impl Report {
    /// No evidence of tampering.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty() && self.files.iter().all(|f| f.problems.is_empty())
    }

    /// Every problem, file problems first, each naming its file.
    pub fn all_problems(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .files
            .iter()
            .flat_map(|f| f.problems.iter().map(move |p| format!("{}: {p}", f.name())))
            .collect();
        out.extend(self.problems.iter().cloned());
        out
    }
}

/// Verifies `paths` as one sequence, with digests signed by any of `keys`.
pub fn verify_files(paths: &[PathBuf], keys: &[PublicKey]) -> Report {
    let mut files: Vec<FileReport> = paths.iter().map(|p| verify_file(p, keys)).collect();
    let mut report = Report::default();
    // Order by the signed header, not by name or argument order.
    files.sort_by_key(|f| f.sequence());
    let with_header: Vec<&FileReport> = files.iter().filter(|f| f.header.is_some()).collect();
    if let Some(first) = with_header.first() {
        if first.header.as_ref().is_some_and(|h| h.previous.is_some()) {
            report.warnings.push(format!(
                "{}: the sequence starts at file {}; the files before it were not given",
                first.name(),
                first.sequence().unwrap_or_default()
            ));
        }
    }
    for pair in with_header.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        let (sa, sb) = (a.sequence().unwrap_or(0), b.sequence().unwrap_or(0));
        if sa == sb {
            report.problems.push(format!(
                "{} and {} both claim sequence number {sa}",
                a.name(),
                b.name()
            ));
            continue;
        }
        if sb != sa + 1 {
            report.problems.push(format!(
                "missing file(s): sequence {}..={} between {} and {}",
                sa + 1,
                sb - 1,
                a.name(),
                b.name()
            ));
            continue;
        }
        let Some(prev) = b.header.as_ref().and_then(|h| h.previous.as_ref()) else {
            report.problems.push(format!(
                "{} names no previous file, but {} comes before it",
                b.name(),
                a.name()
            ));
            continue;
        };
        let a_last = a.last_digest.as_ref().map(Digest::as_ref);
        if prev.last_digest != a_last {
            report.problems.push(format!(
                "{} was cut or altered: {} says its last digest covers {} records, the file's last valid digest covers {}",
                a.name(),
                b.name(),
                prev.last_digest.as_ref().map_or(0, |d| d.records),
                a_last.as_ref().map_or(0, |d| d.records),
            ));
        } else if prev.closed && !a.closed {
            report.problems.push(format!(
                "{} was cut: {} says it was closed, but it has no final digest",
                a.name(),
                b.name()
            ));
        } else if !prev.closed {
            unsigned_warning(
                &mut report.warnings,
                a,
                "the writer stopped without closing it",
            );
        }
    }
    if let Some(last) = with_header.last() {
        if !last.closed {
            unsigned_warning(
                &mut report.warnings,
                last,
                "it is open: being written, or its end was removed",
            );
        }
    }
    report.files = files;
    report
}

fn unsigned_warning(out: &mut Vec<String>, f: &FileReport, why: &str) {
    let unsigned = f.records.saturating_sub(f.signed_records);
    let partial = if f.partial_last_line {
        " and a partial last line"
    } else {
        ""
    };
    out.push(format!(
        "{}: {unsigned} record(s) after its last digest are not signed{partial} ({why})",
        f.name()
    ));
}

/// Verifies one file on its own: header, chain and digests.
pub fn verify_file(path: &Path, keys: &[PublicKey]) -> FileReport {
    let mut r = FileReport {
        path: path.to_path_buf(),
        header: None,
        records: 0,
        signed_records: 0,
        last_digest: None,
        closed: false,
        partial_last_line: false,
        problems: Vec::new(),
    };
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            r.problems.push(format!("cannot read: {e}"));
            return r;
        }
    };
    let mut lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
    // The piece after the last newline: empty, or a line cut short.
    if let Some(tail) = lines.pop() {
        r.partial_last_line = !tail.is_empty();
    }
    let mut lines = lines.into_iter().enumerate().map(|(i, l)| (i + 1, l));
    let Some((_, first)) = lines.next() else {
        r.problems.push("empty: no header".to_string());
        return r;
    };
    let header = match chain::parse_line(first) {
        Line::Header(h) => h,
        _ => {
            r.problems.push(
                "line 1 is not a header: the start of the file was removed or altered".into(),
            );
            return r;
        }
    };
    if header.format_version != chain::FORMAT_VERSION {
        r.problems.push(format!(
            "format version {} is not one this version reads",
            header.format_version
        ));
        return r;
    }
    let mut chain = Chain::start(first);
    let mut section_start = 2;
    for (n, line) in lines {
        if r.closed {
            r.problems.push(format!(
                "line {n} follows the final digest: lines were appended"
            ));
            r.closed = false;
        }
        match chain::parse_line(line) {
            Line::Digest(d) => {
                let valid = check_digest(&mut r.problems, n, &d, &header, keys);
                if d.records != r.records || d.chain_hash != chain.hex() {
                    r.problems.push(format!(
                        "lines {section_start}..{} do not match the digest at line {n}: records there were modified, inserted, deleted or reordered (the digest covers {} records, the file has {})",
                        n - 1, d.records, r.records
                    ));
                    if valid {
                        // Resynchronise on the signed values, so later sections are judged
                        // on their own.
                        if let Some(c) = Chain::from_hex(&d.chain_hash) {
                            chain = c;
                        }
                        r.records = d.records;
                    }
                }
                chain.push(line);
                section_start = n + 1;
                if valid {
                    r.signed_records = r.records;
                    r.closed = d.is_final;
                    r.last_digest = Some(d);
                }
            }
            Line::Header(_) => {
                r.problems
                    .push(format!("line {n} is a second header: files were spliced"));
                chain.push(line);
            }
            Line::Record => {
                if serde_json::from_slice::<serde::de::IgnoredAny>(line).is_err() {
                    r.problems.push(format!("line {n} is not JSON"));
                }
                r.records += 1;
                chain.push(line);
            }
        }
    }
    r.header = Some(header);
    r
}

fn check_digest(
    problems: &mut Vec<String>,
    n: usize,
    d: &Digest,
    header: &Header,
    keys: &[PublicKey],
) -> bool {
    let Some(key) = keys.iter().find(|k| k.fingerprint == d.key_fingerprint) else {
        problems.push(format!(
            "the digest at line {n} is signed by a key not given (fingerprint {})",
            d.key_fingerprint
        ));
        return false;
    };
    if !key.verifies(d) {
        problems.push(format!(
            "the digest at line {n} has a bad signature: the digest line was altered"
        ));
        return false;
    }
    if d.sequence != header.sequence {
        problems.push(format!(
            "the digest at line {n} belongs to file {}, not to this file ({}): lines were moved between files",
            d.sequence, header.sequence
        ));
        return false;
    }
    true
}
