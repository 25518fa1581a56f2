//! Where a server's CPU goes: `perf record -e cpu-clock -g` of the server process during one
//! extra wrk run (kept out of the tables: perf's sampling costs CPU), reduced to the self time
//! of each component (kernel, each Rust crate, aws-lc, the allocator, libc) in µs per request,
//! and the top symbols.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::suite::run_command;
use crate::wrk::{self, WrkTarget};

/// Symbols with less self time than this (%) are left out of the symbol list.
const SYMBOL_MIN_PCT: f64 = 1.0;
/// How many components the report lists (the rest are summed in one line).
const TOP_COMPONENTS: usize = 14;

/// Where a profile of `target_id` at `connections` goes: `perf-<target>-c<N>.data` in `dir`.
pub fn profile_path(dir: &Path, target_id: &str, connections: usize) -> PathBuf {
    dir.join(format!("perf-{target_id}-c{connections}.data"))
}

/// Records the profile into `output` during a wrk run of `target` and returns the report's
/// markdown.
pub fn profile(
    target: &WrkTarget,
    connections: usize,
    seconds: u64,
    dir: &Path,
    output: &Path,
    call_graph: &str,
) -> Result<String, String> {
    if Command::new("perf").arg("--version").output().is_err() {
        return Err("not installed (`apt-get install -y linux-perf`); no profile".to_string());
    }
    // Records a second longer than wrk runs, so the whole run is covered.
    let perf = Command::new("perf")
        .args([
            "record",
            "-e",
            "cpu-clock",
            "--call-graph",
            call_graph,
            "-p",
        ])
        .arg(target.server_pid.to_string())
        .arg("-o")
        .arg(output)
        .args(["--", "sleep"])
        .arg((seconds + 1).to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run perf: {e}"))?;
    // Time for perf to attach before the load starts.
    std::thread::sleep(Duration::from_millis(300));
    eprint!(
        "perf record during wrk -t1 -c{connections} -d{seconds}s: {} ... ",
        target.label
    );
    let run = wrk::run_once(target, connections, seconds, 0, dir);
    let recorded = perf
        .wait_with_output()
        .map_err(|e| format!("perf record failed: {e}"))?;
    let run = run?;
    eprintln!("{:.0} req/s", run.figures.rps);
    if !recorded.status.success() {
        return Err(format!(
            "perf record failed ({}): {}",
            recorded.status,
            String::from_utf8_lossy(&recorded.stderr).trim()
        ));
    }
    let report = run_command(
        Command::new("perf")
            .args(["report", "--stdio", "--no-children", "-g", "none"])
            .args(["--percent-limit", "0", "--sort", "dso,sym", "-i"])
            .arg(output),
        "perf report",
    )?;
    let samples = parse_report(&report);
    if samples.is_empty() {
        return Err("perf report listed no samples".to_string());
    }
    let us_per_req = if run.figures.requests > 0 {
        run.server_cpu_s * 1e6 / run.figures.requests as f64
    } else {
        f64::NAN
    };
    let mut text = format!(
        "`perf record -e cpu-clock --call-graph {call_graph} -p <server pid>` during one more wrk run (not in the \
         table) of {} at {connections} connections: {:.0} req/s under perf, server CPU {:.1} \
         µs/req. Profile: `{}` (`perf report -i` it; for callers, run with `--perf-call-graph \
         dwarf`). Self time by component (crate of the symbol's path; µs/req = share × the \
         server CPU per request of this run):\n\n\
         | component | share of server CPU | µs/req |\n|---|---:|---:|\n",
        target.label,
        run.figures.rps,
        us_per_req,
        output.display()
    );
    let groups = components(&samples);
    let (top, rest) = groups.split_at(groups.len().min(TOP_COMPONENTS));
    for (name, pct) in top {
        text.push_str(&format!(
            "| {name} | {pct:.1}% | {:.1} |\n",
            pct / 100.0 * us_per_req
        ));
    }
    if !rest.is_empty() {
        let pct: f64 = rest.iter().map(|(_, p)| p).sum();
        text.push_str(&format!(
            "| {} others | {pct:.1}% | {:.1} |\n",
            rest.len(),
            pct / 100.0 * us_per_req
        ));
    }
    text.push_str(&format!(
        "\nSymbols with ≥ {SYMBOL_MIN_PCT}% self time:\n\n```\n"
    ));
    for s in samples.iter().filter(|s| s.pct >= SYMBOL_MIN_PCT) {
        text.push_str(&format!("{:6.2}%  {}  {}\n", s.pct, s.dso, s.symbol));
    }
    text.push_str("```\n");
    Ok(text)
}

/// One line of `perf report --sort dso,sym`.
#[derive(Debug, Clone, PartialEq)]
struct Sample {
    pct: f64,
    dso: String,
    /// Without perf's `[k]` / `[.]` marker.
    symbol: String,
    kernel: bool,
}

fn parse_report(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let l = l.trim();
            let (pct, rest) = l.split_once('%')?;
            let pct: f64 = pct.trim().parse().ok()?;
            let (dso, rest) = rest.trim_start().split_once(char::is_whitespace)?;
            let rest = rest.trim_start();
            let (kernel, symbol) = if let Some(s) = rest.strip_prefix("[k]") {
                (true, s)
            } else {
                (false, rest.strip_prefix("[.]").unwrap_or(rest))
            };
            Some(Sample {
                pct,
                dso: dso.to_string(),
                symbol: symbol.trim().to_string(),
                kernel,
            })
        })
        .collect()
}

/// The component a sample's time is charged to.
fn component(s: &Sample) -> String {
    if s.kernel || s.dso.starts_with("[kernel") {
        return "kernel".to_string();
    }
    let mut sym = bare_type(&s.symbol);
    // `<str as http::…>::f`: an impl on a primitive type belongs to the trait's crate.
    if let Some((ty, tr)) = sym.split_once(" as ") {
        if !ty.contains("::") {
            sym = bare_type(tr);
        }
    }
    if sym.starts_with("aws_lc") {
        return "aws-lc (SHA-256, AES-GCM, HMAC)".to_string();
    }
    if sym.starts_with("mi_") || sym.starts_with("_mi_") {
        return "mimalloc".to_string();
    }
    if !s.dso.ends_with(".so") && !s.dso.contains(".so.") {
        if let Some((krate, _)) = sym.split_once("::") {
            return match krate {
                "core" | "alloc" | "std" => "Rust std (core, alloc, std)".to_string(),
                k => k.to_string(),
            };
        }
    }
    // A shared library, or a symbol without a path (C code, or an address).
    s.dso.clone()
}

/// A path without the `<`, `&`, `*`, `mut ` and `dyn ` in front of it.
fn bare_type(sym: &str) -> &str {
    let sym = sym.trim_start_matches(['<', '&', '*']);
    sym.strip_prefix("mut ")
        .or_else(|| sym.strip_prefix("dyn "))
        .unwrap_or(sym)
}

/// Self time summed per component, largest first.
fn components(samples: &[Sample]) -> Vec<(String, f64)> {
    let mut groups: Vec<(String, f64)> = Vec::new();
    for s in samples {
        let c = component(s);
        match groups.iter_mut().find(|(name, _)| *name == c) {
            Some((_, pct)) => *pct += s.pct,
            None => groups.push((c, s.pct)),
        }
    }
    groups.sort_by(|a, b| b.1.total_cmp(&a.1));
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPORT: &str = "# Samples: 2K of event 'cpu-clock'\n#\n\
        \x20   10.52%  [kernel.kallsyms]  [k] finish_task_switch.isra.0\n\
        \x20    3.73%  strongroom         [.] aws_lc_0_47_0_sha256_block_data_order_hw\n\
        \x20    3.49%  strongroom         [.] serde_json::ser::format_escaped_str\n\
        \x20    1.67%  strongroom         [.] <base64::engine::general_purpose::GeneralPurpose as base64::engine::Engine>::internal_encode\n\
        \x20    1.67%  strongroom         [.] _mi_page_malloc_zero\n\
        \x20    1.00%  strongroom         [.] serde_json::read::SliceRead::skip_to_escape\n\
        \x20    0.95%  strongroom         [.] <alloc::string::String as zeroize::Zeroize>::zeroize\n\
        \x20    0.40%  strongroom         [.] <str as http::header::map::as_header_name::Sealed>::find\n\
        \x20    0.91%  libc.so.6          [.] __memmove_avx512_unaligned_erms\n\
        \x20    0.50%  strongroom         [.] 0x00000000001234\n\n";

    #[test]
    fn report_lines_are_parsed() {
        let s = parse_report(REPORT);
        assert_eq!(s.len(), 10);
        assert_eq!(s[0].pct, 10.52);
        assert!(s[0].kernel);
        assert_eq!(s[2].dso, "strongroom");
        assert_eq!(s[2].symbol, "serde_json::ser::format_escaped_str");
    }

    #[test]
    fn samples_are_charged_to_components() {
        let groups = components(&parse_report(REPORT));
        let get = |name: &str| groups.iter().find(|(n, _)| n == name).map(|(_, p)| *p);
        assert_eq!(groups[0].0, "kernel");
        assert!((get("serde_json").unwrap() - 4.49).abs() < 1e-9);
        assert_eq!(get("base64"), Some(1.67));
        assert_eq!(get("mimalloc"), Some(1.67));
        assert_eq!(get("aws-lc (SHA-256, AES-GCM, HMAC)"), Some(3.73));
        assert_eq!(get("Rust std (core, alloc, std)"), Some(0.95));
        assert_eq!(get("libc.so.6"), Some(0.91));
        assert_eq!(get("http"), Some(0.4));
        // A bare address in the binary stays with the binary.
        assert_eq!(get("strongroom"), Some(0.5));
    }
}
