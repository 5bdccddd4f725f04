//! Integration tests of the file tailer against real files in temp directories: every test
//! asserts the exact lines delivered, in order, and that nothing more arrives afterwards.
//!
//! Synchronisation is always "wait for a condition with a deadline" (channel receive with a
//! timeout, or polling a stat counter until a deadline); the only fixed waits are the
//! `assert_quiet` windows that prove *absence* of duplicates.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use socwall::tail::{LineBatch, SourceSpec, StartAt, TailError, TailOptions, Tailer};
use tokio::sync::mpsc::{Receiver, channel};

const DEADLINE: Duration = Duration::from_secs(5);
/// Several rescans at 50 ms: long enough for a duplicate to show up if there were one.
const QUIET: Duration = Duration::from_millis(300);

fn opts() -> TailOptions {
    TailOptions {
        rescan_interval: Duration::from_millis(50),
        ..TailOptions::default()
    }
}

fn spec(id: u16, pattern: &Path, start_at: StartAt) -> SourceSpec {
    SourceSpec {
        start_at,
        ..SourceSpec::new(id, format!("src{id}"), pattern.to_str().unwrap())
    }
}

fn append(path: &Path, bytes: &[u8]) {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(bytes).unwrap();
}

/// Collected output of one tailer.
struct Out {
    rx: Receiver<LineBatch>,
    overlong: u64,
}

impl Out {
    fn new(rx: Receiver<LineBatch>) -> Out {
        Out { rx, overlong: 0 }
    }

    /// Receives until `n` lines arrived (or panics at the deadline); returns (source, line).
    async fn take_from(&mut self, n: usize) -> Vec<(u16, Vec<u8>)> {
        let end = Instant::now() + DEADLINE;
        let mut got = Vec::new();
        while got.len() < n {
            let left = end.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.rx.recv()).await {
                Ok(Some(b)) => {
                    assert!(!b.is_empty(), "empty batch sent");
                    self.overlong += b.overlong;
                    got.extend(b.lines().map(|l| (b.source, l.to_vec())));
                }
                Ok(None) => panic!("channel closed after {} of {n} lines: {got:?}", got.len()),
                Err(_) => panic!(
                    "timed out after {} of {n} lines: {:?}",
                    got.len(),
                    lossy(&got)
                ),
            }
        }
        assert_eq!(
            got.len(),
            n,
            "more lines than expected (last: {:?})",
            lossy(&got[got.len().saturating_sub(5)..])
        );
        got
    }

    async fn take(&mut self, n: usize) -> Vec<String> {
        self.take_from(n)
            .await
            .into_iter()
            .map(|(_, l)| String::from_utf8(l).unwrap())
            .collect()
    }

    /// Asserts nothing else arrives within QUIET.
    async fn assert_quiet(&mut self) {
        if let Ok(Some(b)) = tokio::time::timeout(QUIET, self.rx.recv()).await {
            let lines: Vec<_> = b.lines().map(String::from_utf8_lossy).collect();
            panic!("unexpected extra lines: {lines:?}");
        }
    }
}

fn lossy(v: &[(u16, Vec<u8>)]) -> Vec<String> {
    v.iter()
        .map(|(_, l)| String::from_utf8_lossy(l).into_owned())
        .collect()
}

/// Polls `cond` until true or the deadline (panics).
async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + DEADLINE;
    while !cond() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn start(sources: Vec<SourceSpec>, options: TailOptions) -> (Tailer, Out) {
    let (tx, rx) = channel(16);
    (Tailer::spawn(sources, options, tx).unwrap(), Out::new(rx))
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

async fn wait_open(t: &Tailer, id: u16, n: u64) {
    let st = t.stats();
    wait_until(&format!("{n} open files"), || st.source(id).files_open == n).await;
}

#[tokio::test]
async fn start_at_end_skips_existing_content() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("fw.log");
    append(&log, b"old1\nold2\n");
    let (t, mut out) = start(vec![spec(1, &log, StartAt::End)], opts());
    wait_open(&t, 1, 1).await;
    append(&log, b"new1\nnew2\n");
    assert_eq!(out.take(2).await, s(&["new1", "new2"]));
    out.assert_quiet().await;
    assert_eq!(t.stats().source(1).lines, 2);
    t.stop();
}

#[tokio::test]
async fn start_at_end_mid_line_skips_to_next_line() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("fw.log");
    append(&log, b"old\nhalf a li");
    let (t, mut out) = start(vec![spec(1, &log, StartAt::End)], opts());
    wait_open(&t, 1, 1).await;
    append(&log, b"ne\nwhole\n");
    assert_eq!(out.take(1).await, s(&["whole"]));
    out.assert_quiet().await;
    t.stop();
}

#[tokio::test]
async fn start_at_beginning_reads_existing_then_appends() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("fw.log");
    append(&log, b"a\nb\n");
    let (t, mut out) = start(vec![spec(1, &log, StartAt::Beginning)], opts());
    assert_eq!(out.take(2).await, s(&["a", "b"]));
    append(&log, b"c\n");
    assert_eq!(out.take(1).await, s(&["c"]));
    out.assert_quiet().await;
    t.stop();
}

#[tokio::test]
async fn file_appearing_later_is_read_from_beginning() {
    let dir = tempfile::tempdir().unwrap();
    let (t, mut out) = start(
        vec![spec(1, &dir.path().join("*.log"), StartAt::End)],
        opts(),
    );
    // Let the first (startup) scan happen with no file present.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let log = dir.path().join("late.log");
    fs::write(&log, b"one\ntwo\n").unwrap();
    assert_eq!(out.take(2).await, s(&["one", "two"]));
    out.assert_quiet().await;
    t.stop();
}

#[tokio::test]
async fn partial_line_is_held_until_newline() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("fw.log");
    fs::write(&log, b"").unwrap();
    let (t, mut out) = start(vec![spec(1, &log, StartAt::End)], opts());
    wait_open(&t, 1, 1).await;
    append(&log, b"first\npar");
    assert_eq!(out.take(1).await, s(&["first"]));
    out.assert_quiet().await;
    append(&log, b"t");
    out.assert_quiet().await;
    append(&log, b"ial\r\n");
    assert_eq!(out.take(1).await, s(&["partial"]));
    out.assert_quiet().await;
    t.stop();
}

async fn rename_rotation(pattern: &str) {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("fw.log");
    let rotated = dir.path().join("fw.log.1");
    fs::write(&log, b"").unwrap();
    let (t, mut out) = start(
        vec![spec(1, &dir.path().join(pattern), StartAt::End)],
        opts(),
    );
    wait_open(&t, 1, 1).await;
    append(&log, b"a\nb\n");
    assert_eq!(out.take(2).await, s(&["a", "b"]));
    // The writer keeps its fd across the rename (like syslog until it is HUPed).
    let mut writer = OpenOptions::new().append(true).open(&log).unwrap();
    writer.write_all(b"c\n").unwrap();
    fs::rename(&log, &rotated).unwrap();
    writer.write_all(b"late\n").unwrap();
    drop(writer);
    append(&log, b"d\ne\n");
    assert_eq!(out.take(4).await, s(&["c", "late", "d", "e"]));
    out.assert_quiet().await;
    let st = t.stats();
    assert_eq!(st.source(1).rotations, 1);
    if pattern == "fw.log" {
        // The rotated file is out of the glob: closed once drained.
        wait_open(&t, 1, 1).await;
    } else {
        assert_eq!(st.source(1).files_open, 2);
    }
    append(&log, b"f\n");
    assert_eq!(out.take(1).await, s(&["f"]));
    out.assert_quiet().await;
    t.stop();
}

#[tokio::test]
async fn rename_rotation_glob_matches_rotated_names() {
    rename_rotation("fw.log*").await;
}

#[tokio::test]
async fn rename_rotation_glob_matches_live_name_only() {
    rename_rotation("fw.log").await;
}

#[tokio::test]
async fn rotation_cascade_with_glob_reads_each_file_once() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n);
    fs::write(p("fw.log.2"), b"g2\n").unwrap();
    fs::write(p("fw.log.1"), b"g1\n").unwrap();
    fs::write(p("fw.log"), b"g0\n").unwrap();
    let (t, mut out) = start(vec![spec(1, &p("fw.log*"), StartAt::End)], opts());
    wait_open(&t, 1, 3).await;
    for round in 0..3 {
        append(&p("fw.log"), format!("r{round}\n").as_bytes());
        assert_eq!(out.take(1).await, vec![format!("r{round}")]);
        // logrotate with rotate 2: drop .2, shift .1 → .2, live → .1, new live.
        fs::remove_file(p("fw.log.2")).unwrap();
        fs::rename(p("fw.log.1"), p("fw.log.2")).unwrap();
        fs::rename(p("fw.log"), p("fw.log.1")).unwrap();
        fs::write(p("fw.log"), format!("new{round}\n")).unwrap();
        assert_eq!(out.take(1).await, vec![format!("new{round}")]);
    }
    out.assert_quiet().await;
    wait_open(&t, 1, 3).await;
    t.stop();
}

#[tokio::test]
async fn copytruncate_restarts_at_zero() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("fw.log");
    fs::write(&log, b"").unwrap();
    let (t, mut out) = start(vec![spec(1, &log, StartAt::End)], opts());
    wait_open(&t, 1, 1).await;
    append(&log, b"before 1\nbefore 2\n");
    assert_eq!(out.take(2).await, s(&["before 1", "before 2"]));
    // logrotate copytruncate: copy aside (not matched by the glob), truncate in place.
    fs::copy(&log, dir.path().join("fw.log.1")).unwrap();
    OpenOptions::new()
        .write(true)
        .open(&log)
        .unwrap()
        .set_len(0)
        .unwrap();
    append(&log, b"after\n");
    assert_eq!(out.take(1).await, s(&["after"]));
    out.assert_quiet().await;
    assert_eq!(t.stats().source(1).truncations, 1);
    t.stop();
}

#[tokio::test]
async fn truncate_and_rewrite_past_offset_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("fw.log");
    fs::write(&log, b"").unwrap();
    let (t, mut out) = start(vec![spec(1, &log, StartAt::End)], opts());
    wait_open(&t, 1, 1).await;
    append(&log, b"x\n");
    assert_eq!(out.take(1).await, s(&["x"]));
    // Truncate and write more than the old offset in one go: the size never looks smaller
    // to a reader that wakes up after the write; the head hash catches it.
    let mut f = OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&log)
        .unwrap();
    f.write_all(b"rewritten content 1\nrewritten content 2\n")
        .unwrap();
    drop(f);
    assert_eq!(
        out.take(2).await,
        s(&["rewritten content 1", "rewritten content 2"])
    );
    out.assert_quiet().await;
    assert_eq!(t.stats().source(1).truncations, 1);
    t.stop();
}

#[tokio::test]
async fn delete_and_recreate() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("fw.log");
    fs::write(&log, b"").unwrap();
    let (t, mut out) = start(vec![spec(1, &log, StartAt::End)], opts());
    wait_open(&t, 1, 1).await;
    append(&log, b"a\n");
    assert_eq!(out.take(1).await, s(&["a"]));
    append(&log, b"b\n");
    fs::remove_file(&log).unwrap();
    fs::write(&log, b"c\n").unwrap();
    assert_eq!(out.take(2).await, s(&["b", "c"]));
    out.assert_quiet().await;
    wait_open(&t, 1, 1).await;
    t.stop();
}

/// Targets of this process's open fds (Linux /proc).
fn open_fd_targets() -> Vec<PathBuf> {
    fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| fs::read_link(e.ok()?.path()).ok())
        .collect()
}

#[tokio::test]
async fn deleted_file_is_closed_after_drain() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("gone.log");
    fs::write(&log, b"").unwrap();
    let (t, mut out) = start(
        vec![spec(1, &dir.path().join("*.log"), StartAt::End)],
        opts(),
    );
    wait_open(&t, 1, 1).await;
    append(&log, b"x\ny\n");
    fs::remove_file(&log).unwrap();
    assert_eq!(out.take(2).await, s(&["x", "y"]));
    wait_open(&t, 1, 0).await;
    let held: Vec<_> = open_fd_targets()
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("gone.log"))
        .collect();
    assert!(held.is_empty(), "deleted file still held open: {held:?}");
    out.assert_quiet().await;
    t.stop();
}

#[tokio::test]
async fn unterminated_last_line_of_rotated_file_is_emitted_on_close() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("fw.log");
    fs::write(&log, b"").unwrap();
    let (t, mut out) = start(vec![spec(1, &log, StartAt::End)], opts());
    wait_open(&t, 1, 1).await;
    append(&log, b"a\nno newline");
    assert_eq!(out.take(1).await, s(&["a"]));
    fs::rename(&log, dir.path().join("old")).unwrap();
    assert_eq!(out.take(1).await, s(&["no newline"]));
    wait_open(&t, 1, 0).await;
    out.assert_quiet().await;
    t.stop();
}

#[tokio::test]
async fn overlong_lines_are_skipped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("fw.log");
    fs::write(&log, b"").unwrap();
    let mut sp = spec(1, &log, StartAt::End);
    sp.max_line_bytes = 100;
    let (t, mut out) = start(vec![sp], opts());
    wait_open(&t, 1, 1).await;
    append(&log, b"short 1\n");
    // 1 MiB line written in pieces: spans many reads and several passes.
    for _ in 0..16 {
        append(&log, &[b'z'; 64 * 1024]);
    }
    append(&log, b"\nshort 2\n");
    append(&log, &[b'y'; 101]);
    append(&log, b"\n");
    append(&log, &[b'w'; 100]);
    append(&log, b"\n");
    let got = out.take(3).await;
    assert_eq!(got[..2], s(&["short 1", "short 2"]));
    assert_eq!(got[2], "w".repeat(100));
    out.assert_quiet().await;
    assert_eq!(out.overlong, 2);
    assert_eq!(t.stats().source(1).overlong, 2);
    t.stop();
}

#[tokio::test]
async fn binary_and_nul_bytes_pass_through() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("fw.log");
    fs::write(&log, b"\x00\xff\xfe bin\r\n\xc3\x28 bad utf8\n\n").unwrap();
    let (t, mut out) = start(vec![spec(1, &log, StartAt::Beginning)], opts());
    let got: Vec<Vec<u8>> = out.take_from(3).await.into_iter().map(|(_, l)| l).collect();
    assert_eq!(
        got,
        vec![
            b"\x00\xff\xfe bin".to_vec(),
            b"\xc3\x28 bad utf8".to_vec(),
            b"".to_vec()
        ]
    );
    out.assert_quiet().await;
    t.stop();
}

#[tokio::test]
async fn symlinks_are_followed_and_deduplicated() {
    let dir = tempfile::tempdir().unwrap();
    let real_dir = dir.path().join("real");
    let links = dir.path().join("links");
    fs::create_dir_all(&real_dir).unwrap();
    fs::create_dir_all(&links).unwrap();
    let target = real_dir.join("target.txt");
    fs::write(&target, b"").unwrap();
    std::os::unix::fs::symlink(&target, links.join("a.log")).unwrap();
    std::os::unix::fs::symlink(&target, links.join("b.log")).unwrap();
    let (t, mut out) = start(vec![spec(1, &links.join("*.log"), StartAt::End)], opts());
    wait_open(&t, 1, 1).await;
    append(&target, b"via link\n");
    assert_eq!(out.take(1).await, s(&["via link"]));
    out.assert_quiet().await;
    assert_eq!(t.stats().source(1).files_open, 1);
    t.stop();
}

#[tokio::test]
async fn many_files_and_several_sources() {
    let dir = tempfile::tempdir().unwrap();
    let d1 = dir.path().join("one");
    let d2 = dir.path().join("two");
    fs::create_dir_all(&d1).unwrap();
    fs::create_dir_all(&d2).unwrap();
    for i in 0..5 {
        fs::write(d1.join(format!("f{i}.log")), b"").unwrap();
    }
    fs::write(d2.join("x.log"), b"").unwrap();
    let (t, mut out) = start(
        vec![
            spec(1, &d1.join("*.log"), StartAt::End),
            spec(2, &d2.join("*.log"), StartAt::End),
        ],
        opts(),
    );
    wait_open(&t, 1, 5).await;
    wait_open(&t, 2, 1).await;
    for n in 0..20 {
        for i in 0..5 {
            append(
                &d1.join(format!("f{i}.log")),
                format!("f{i} {n}\n").as_bytes(),
            );
        }
        append(&d2.join("x.log"), format!("x {n}\n").as_bytes());
    }
    let got = out.take_from(120).await;
    out.assert_quiet().await;
    // Per file: exactly its lines, in order; and each line carries its source's id.
    for i in 0..5 {
        let mine: Vec<String> = got
            .iter()
            .filter(|(src, l)| *src == 1 && l.starts_with(format!("f{i} ").as_bytes()))
            .map(|(_, l)| String::from_utf8(l.clone()).unwrap())
            .collect();
        assert_eq!(
            mine,
            (0..20).map(|n| format!("f{i} {n}")).collect::<Vec<_>>()
        );
    }
    let xs: Vec<String> = got
        .iter()
        .filter(|(src, _)| *src == 2)
        .map(|(_, l)| String::from_utf8(l.clone()).unwrap())
        .collect();
    assert_eq!(xs, (0..20).map(|n| format!("x {n}")).collect::<Vec<_>>());
    assert_eq!(t.stats().source(1).lines, 100);
    assert_eq!(t.stats().source(2).lines, 20);
    t.stop();
}

#[tokio::test]
async fn backpressure_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("fw.log");
    let mut text = String::new();
    for n in 0..20_000 {
        text.push_str(&format!("line {n}\n"));
    }
    fs::write(&log, &text).unwrap();
    // Capacity 1 and tiny batches: the tailer spends most of its time blocked on send.
    let (tx, rx) = channel(1);
    let options = TailOptions {
        batch_bytes: 256,
        ..opts()
    };
    let t = Tailer::spawn(vec![spec(1, &log, StartAt::Beginning)], options, tx).unwrap();
    let mut out = Out::new(rx);
    let mut got = Vec::new();
    let mut batches = 0;
    let end = Instant::now() + DEADLINE;
    while got.len() < 20_000 {
        let b = tokio::time::timeout(end.saturating_duration_since(Instant::now()), out.rx.recv())
            .await
            .expect("timed out")
            .expect("closed");
        batches += 1;
        got.extend(b.lines().map(|l| String::from_utf8(l.to_vec()).unwrap()));
        if batches % 50 == 0 {
            // A slow consumer now and then: the tailer must wait, not drop or buffer.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    assert!(
        batches > 40,
        "small batch_bytes must give many batches, got {batches}"
    );
    assert_eq!(
        got,
        (0..20_000).map(|n| format!("line {n}")).collect::<Vec<_>>()
    );
    out.assert_quiet().await;
    t.stop();
}

#[tokio::test]
async fn batches_respect_batch_bytes_and_are_never_empty() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("fw.log");
    fs::write(&log, "0123456789\n".repeat(1000)).unwrap();
    let (tx, mut rx) = channel(64);
    let options = TailOptions {
        batch_bytes: 1000,
        ..opts()
    };
    let t = Tailer::spawn(vec![spec(1, &log, StartAt::Beginning)], options, tx).unwrap();
    let mut lines = 0;
    while lines < 1000 {
        let b = tokio::time::timeout(DEADLINE, rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert!(!b.is_empty());
        // Flushed once it reaches batch_bytes; reads are at most max(batch_bytes, 4 KiB), so
        // the overshoot is bounded by one such read.
        assert!(
            b.data.len() <= 1000 + 4096,
            "batch of {} bytes",
            b.data.len()
        );
        assert_eq!(b.ends.len(), b.len());
        lines += b.len();
    }
    assert_eq!(lines, 1000);
    t.stop();
}

#[tokio::test]
async fn checkpoints_resume_where_we_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("fw.log");
    fs::write(&log, b"a\nb\npart").unwrap();
    let (t, mut out) = start(vec![spec(1, &log, StartAt::Beginning)], opts());
    assert_eq!(out.take(2).await, s(&["a", "b"]));
    wait_until("partial line read", || t.stats().source(1).bytes_read == 8).await;
    let cps = t.stop_with_checkpoints();
    assert_eq!(cps.len(), 1);
    // Points at the start of the unterminated line, not past it.
    assert_eq!(cps[0].offset, 4);
    assert_eq!(cps[0].source, 1);
    append(&log, b"ial\nc\n");
    // start_at End would skip everything; the checkpoint wins.
    let (tx, rx) = channel(16);
    let t =
        Tailer::spawn_with_checkpoints(vec![spec(1, &log, StartAt::End)], opts(), tx, cps).unwrap();
    let mut out = Out::new(rx);
    assert_eq!(out.take(2).await, s(&["partial", "c"]));
    out.assert_quiet().await;
    t.stop();
}

#[tokio::test]
async fn checkpoint_of_a_replaced_file_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("fw.log");
    fs::write(&log, b"original content line\n").unwrap();
    let (t, mut out) = start(vec![spec(1, &log, StartAt::Beginning)], opts());
    assert_eq!(out.take(1).await, s(&["original content line"]));
    let mut cps = t.stop_with_checkpoints();
    // Simulate inode reuse: same dev+ino, different content.
    fs::write(&log, b"brand new file, different head\nsecond\n").unwrap();
    cps[0].fingerprint.ino = fs::metadata(&log)
        .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
        .unwrap();
    let (tx, rx) = channel(16);
    let t =
        Tailer::spawn_with_checkpoints(vec![spec(1, &log, StartAt::Beginning)], opts(), tx, cps)
            .unwrap();
    let mut out = Out::new(rx);
    assert_eq!(
        out.take(2).await,
        s(&["brand new file, different head", "second"])
    );
    out.assert_quiet().await;
    t.stop();
}

#[tokio::test]
async fn unreadable_and_vanishing_files_do_not_stop_tailing() {
    let dir = tempfile::tempdir().unwrap();
    // A directory and a dangling symlink matched by the glob, next to a good file.
    fs::create_dir(dir.path().join("adir.log")).unwrap();
    std::os::unix::fs::symlink(dir.path().join("nowhere"), dir.path().join("dangling.log"))
        .unwrap();
    let good = dir.path().join("good.log");
    fs::write(&good, b"").unwrap();
    let (t, mut out) = start(
        vec![spec(1, &dir.path().join("*.log"), StartAt::End)],
        opts(),
    );
    wait_open(&t, 1, 1).await;
    append(&good, b"ok\n");
    assert_eq!(out.take(1).await, s(&["ok"]));
    out.assert_quiet().await;
    t.stop();
}

#[test]
fn invalid_configuration_is_a_typed_error() {
    let (tx, _rx) = channel(1);
    let bad = SourceSpec::new(1, "bad", "/tmp/[unclosed");
    let err = Tailer::spawn(vec![bad], TailOptions::default(), tx.clone()).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(matches!(
        err.get_ref().and_then(|e| e.downcast_ref::<TailError>()),
        Some(TailError::InvalidPattern { .. })
    ));
    let dup = vec![
        SourceSpec::new(3, "a", "/tmp/a"),
        SourceSpec::new(3, "b", "/tmp/b"),
    ];
    let err = Tailer::spawn(dup, TailOptions::default(), tx).unwrap_err();
    assert!(matches!(
        err.get_ref().and_then(|e| e.downcast_ref::<TailError>()),
        Some(TailError::DuplicateSourceId(3))
    ));
}

#[test]
fn stop_without_runtime_and_without_files() {
    let (tx, _rx) = channel(1);
    let dir = tempfile::tempdir().unwrap();
    let t = Tailer::spawn(
        vec![SourceSpec::new(
            1,
            "none",
            dir.path().join("*.log").to_str().unwrap(),
        )],
        TailOptions::default(),
        tx,
    )
    .unwrap();
    assert_eq!(t.stats().source(1), Default::default());
    assert_eq!(t.stats().source(99), Default::default());
    let started = Instant::now();
    t.stop();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "stop must not wait for the rescan timer"
    );
}

#[tokio::test]
async fn max_open_files_caps_fds_reports_it_and_opens_the_rest_later() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n);
    // Oldest first (mtime order decides which are left out: the oldest).
    for (i, name) in ["a.log", "b.log", "c.log"].iter().enumerate() {
        fs::write(p(name), format!("{name} old\n")).unwrap();
        let t = std::time::SystemTime::now() - Duration::from_secs(30 - 10 * i as u64);
        fs::File::options()
            .write(true)
            .open(p(name))
            .unwrap()
            .set_modified(t)
            .unwrap();
    }
    let options = TailOptions {
        max_open_files: 2,
        ..opts()
    };
    let (t, mut out) = start(vec![spec(1, &p("*.log"), StartAt::End)], options);
    wait_open(&t, 1, 2).await;
    let st = t.stats();
    wait_until("the cap reported on feed health", || {
        st.issue(1).is_some_and(|i| i.op == "max_open_files")
    })
    .await;
    let issue = st.issue(1).unwrap();
    assert_eq!(issue.path, p("a.log"), "the oldest file waits");
    assert!(issue.error.contains("max_open_files = 2"), "{issue:?}");
    append(&p("c.log"), b"c new\n");
    assert_eq!(out.take(1).await, s(&["c new"]));
    // Room again: a.log is opened on a later rescan and read from its start (it was never
    // read; start_at applies to the first scan only), and the problem clears.
    fs::remove_file(p("b.log")).unwrap();
    assert_eq!(out.take(1).await, s(&["a.log old"]));
    wait_until("the cap problem to clear", || st.issue(1).is_none()).await;
    wait_open(&t, 1, 2).await;
    out.assert_quiet().await;
    t.stop();
}

/// True when this process can read a file whatever its mode (root, CAP_DAC_OVERRIDE).
fn permissions_are_bypassed(dir: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let probe = dir.join("probe");
    fs::write(&probe, b"x").unwrap();
    fs::set_permissions(&probe, fs::Permissions::from_mode(0o000)).unwrap();
    let readable = fs::File::open(&probe).is_ok();
    fs::remove_file(&probe).unwrap();
    readable
}

#[tokio::test]
async fn unreadable_file_is_reported_and_recovers_when_fixed() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("fw.log");
    // A symlink loop cannot be opened by anyone, root included (ELOOP).
    std::os::unix::fs::symlink(&log, &log).unwrap();
    let (t, mut out) = start(vec![spec(1, &log, StartAt::End)], opts());
    let st = t.stats();
    wait_until("the problem on feed health", || st.issue(1).is_some()).await;
    let issue = st.issue(1).unwrap();
    assert_eq!((issue.op, &issue.path), ("stat", &log), "{issue:?}");
    assert!(issue.error.contains("symbolic links"), "{issue:?}");
    // Fixed: a real file takes the name; it appeared after the first scan, so it is read from
    // its start, and the problem clears.
    fs::remove_file(&log).unwrap();
    fs::write(&log, b"one\n").unwrap();
    assert_eq!(out.take(1).await, s(&["one"]));
    wait_until("the problem to clear", || st.issue(1).is_none()).await;

    if permissions_are_bypassed(dir.path()) {
        eprintln!("running with permission override (root): chmod 000 part not exercised");
    } else {
        let other = dir.path().join("other.log");
        fs::write(&other, b"hidden\n").unwrap();
        fs::set_permissions(&other, fs::Permissions::from_mode(0o000)).unwrap();
        let t2 = Tailer::spawn(
            vec![spec(2, &other, StartAt::Beginning)],
            opts(),
            channel(16).0,
        )
        .unwrap();
        let st2 = t2.stats();
        wait_until("permission denied on feed health", || {
            st2.issue(2).is_some_and(|i| i.op == "open")
        })
        .await;
        fs::set_permissions(&other, fs::Permissions::from_mode(0o644)).unwrap();
        wait_until("the permission problem to clear", || st2.issue(2).is_none()).await;
        t2.stop();
    }
    out.assert_quiet().await;
    t.stop();
}

/// Receives until a checkpoint marker arrives; returns the lines before it and the marker.
async fn take_until_marker(out: &mut Out) -> (Vec<String>, socwall::tail::TailCheckpoint) {
    let end = Instant::now() + DEADLINE;
    let mut lines = Vec::new();
    loop {
        let b = tokio::time::timeout(end.saturating_duration_since(Instant::now()), out.rx.recv())
            .await
            .expect("timed out waiting for a checkpoint marker")
            .expect("closed");
        let empty = b.is_empty();
        if let Some(cp) = b.checkpoint {
            assert!(empty, "a marker carries no lines");
            return (lines, *cp);
        }
        lines.extend(b.lines().map(|l| String::from_utf8(l.to_vec()).unwrap()));
    }
}

#[tokio::test]
async fn checkpoint_marker_covers_exactly_the_lines_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("fw.log");
    fs::write(&log, b"").unwrap();
    let (t, mut out) = start(vec![spec(1, &log, StartAt::End)], opts());
    wait_open(&t, 1, 1).await;
    let trigger = t.checkpoint_trigger();
    let mut before = Vec::new();
    for round in 0..20 {
        append(&log, format!("line {round}\npart").as_bytes());
        append(&log, format!("ial {round}\n").as_bytes());
        trigger.request();
        let (lines, cp) = take_until_marker(&mut out).await;
        before.extend(lines);
        // The position is the end of exactly the lines delivered so far.
        let bytes: u64 = before.iter().map(|l| l.len() as u64 + 1).sum();
        assert_eq!(cp.files.len(), 1);
        assert_eq!(cp.files[0].offset, bytes, "round {round}: {before:?}");
        assert_eq!(cp.sources, vec![1]);
    }
    assert_eq!(t.stats().checkpoints(), 20);
    t.stop();
}

#[tokio::test]
async fn resume_drains_a_file_rotated_away_while_stopped_then_reads_the_new_one() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("fw.log");
    fs::write(&log, b"").unwrap();
    // Glob for the live name only: nothing but the checkpoint leads back to the old file.
    let (t, mut out) = start(vec![spec(1, &log, StartAt::End)], opts());
    wait_open(&t, 1, 1).await;
    append(&log, b"a\nb\n");
    assert_eq!(out.take(2).await, s(&["a", "b"]));
    let cp = t.stop_for_resume().unwrap();
    assert_eq!(cp.files.len(), 1);
    // While stopped: more lines, rotation by rename, a late write to the rotated file, and
    // the new file with lines of its own.
    append(&log, b"c\n");
    fs::rename(&log, dir.path().join("fw.log.1")).unwrap();
    append(&dir.path().join("fw.log.1"), b"late\n");
    append(&log, b"new 1\nnew 2\n");
    let (tx, rx) = channel(16);
    let t = Tailer::resume(vec![spec(1, &log, StartAt::End)], opts(), tx, cp).unwrap();
    let mut out = Out::new(rx);
    // Old file first (from its position), then the new one from its start (start_at End
    // does not apply to a file that appeared while stopped).
    assert_eq!(out.take(4).await, s(&["c", "late", "new 1", "new 2"]));
    // The rotated file is closed once drained (it is out of the glob).
    wait_open(&t, 1, 1).await;
    out.assert_quiet().await;
    t.stop();
}

#[tokio::test]
async fn resume_keeps_start_at_for_old_unknown_files_but_reads_new_ones() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n);
    fs::write(p("old.log"), b"old content\n").unwrap();
    let pattern = p("*.log");
    // A source the checkpoint covers and a source it does not (new in the configuration).
    let (t, mut out) = start(vec![spec(1, &pattern, StartAt::End)], opts());
    wait_open(&t, 1, 1).await;
    append(&p("old.log"), b"seen\n");
    assert_eq!(out.take(1).await, s(&["seen"]));
    let cp = t.stop_for_resume().unwrap();
    fs::write(p("new.log"), b"made while stopped\n").unwrap();
    let other = dir.path().join("other");
    fs::create_dir(&other).unwrap();
    fs::write(other.join("x.log"), b"before the source existed\n").unwrap();
    let (tx, rx) = channel(16);
    let t = Tailer::resume(
        vec![
            spec(1, &pattern, StartAt::End),
            spec(2, &other.join("*.log"), StartAt::End),
        ],
        opts(),
        tx,
        cp,
    )
    .unwrap();
    let mut out = Out::new(rx);
    assert_eq!(out.take(1).await, s(&["made while stopped"]));
    wait_open(&t, 2, 1).await;
    out.assert_quiet().await;
    append(&other.join("x.log"), b"after\n");
    assert_eq!(out.take(1).await, s(&["after"]));
    t.stop();
}

#[tokio::test]
async fn stopping_right_after_resume_hands_the_positions_on() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("fw.log");
    fs::write(&log, b"a\n").unwrap();
    let (t, mut out) = start(vec![spec(1, &log, StartAt::Beginning)], opts());
    assert_eq!(out.take(1).await, s(&["a"]));
    let mut cp = t.stop_for_resume().unwrap();
    // Restart and stop at once, a few times: whether or not a scan ran in between, the
    // positions must survive, or the next start would read "a" again.
    for _ in 0..5 {
        let (tx, _rx) = channel(16);
        let t = Tailer::resume(vec![spec(1, &log, StartAt::Beginning)], opts(), tx, cp).unwrap();
        cp = t.stop_for_resume().unwrap();
        assert_eq!(cp.files.len(), 1, "{cp:?}");
        assert_eq!(cp.files[0].offset, 2);
    }
    append(&log, b"b\n");
    let (tx, rx) = channel(16);
    let t = Tailer::resume(vec![spec(1, &log, StartAt::Beginning)], opts(), tx, cp).unwrap();
    let mut out = Out::new(rx);
    assert_eq!(out.take(1).await, s(&["b"]));
    out.assert_quiet().await;
    t.stop();
}
