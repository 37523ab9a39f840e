"""Files reconcile writes and errors it reports: no write through a planted link, one
`Error:` line for disk, permission and corruption failures, a lock that records how each
run ended, a Markdown report that data cannot inject into, and secret tag values kept
out of DuckDB's CSV excerpts and type errors."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner

from reconcile import logs, warehouse
from reconcile.cli import cli
from reconcile.errors import redact_secrets, set_secret_tags
from reconcile.lock import holder, lock_path, writer_lock
from reconcile.models import ModelRegistry
from reconcile.report import render as report_render

REPO = Path(__file__).resolve().parents[1]
FOCUS_SAMPLE = REPO / "sample_data" / "azure" / "focus-downloads" / "acme-focus-1.0-2025-05.csv"
OUTSIDE_TEXT = "precious: not reconcile's\n"


@pytest.fixture(autouse=True)
def _reset_secret_tags():
    yield
    set_secret_tags([])
    logs.configure("human", [])


def run_cli(*args: object) -> Any:
    return CliRunner().invoke(cli, [str(a) for a in args])


def write_config(tmp_path: Path, sources: list[Path], extra: str = "") -> Path:
    config = tmp_path / "reconcile.toml"
    blocks = "".join(f'[[sources]]\nuri = "{s.as_posix()}"\n\n' for s in sources)
    config.write_text(textwrap.dedent(extra) + "\n" + blocks, encoding="utf-8")
    return config


def outside_file(tmp_path: Path) -> Path:
    target = tmp_path / "elsewhere" / "precious.txt"
    target.parent.mkdir()
    target.write_text(OUTSIDE_TEXT)
    return target


def assert_one_error_line(result: Any) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.stderr
    assert lines and lines[-1].startswith("Error: "), result.stderr
    return str(lines[-1])


# ----------------------------------------------------------- 1. no write through links


def test_a_symlinked_lock_file_is_refused_and_its_target_untouched(tmp_path, hf_runs_copy):
    db = tmp_path / "w.duckdb"
    target = outside_file(tmp_path)
    lock_path(db).symlink_to(target)
    config = write_config(tmp_path, [hf_runs_copy])
    result = run_cli("--db", db, "--config", config, "run")
    line = assert_one_error_line(result)
    assert "symbolic link" in line and "w.duckdb.lock" in line
    assert target.read_text() == OUTSIDE_TEXT
    assert not db.exists()  # refused before anything was written


def test_a_hard_linked_lock_file_is_refused(tmp_path):
    db = tmp_path / "w.duckdb"
    target = outside_file(tmp_path)
    os.link(target, lock_path(db))
    with pytest.raises(Exception, match="hard link"), writer_lock(db, command="run"):
        pass
    assert target.read_text() == OUTSIDE_TEXT


def test_snapshot_is_published_without_writing_through_planted_links(tmp_path, hf_runs_copy):
    db = tmp_path / "w.duckdb"
    old_temp_target = outside_file(tmp_path)
    snapshot_target = old_temp_target.with_name("snapshot-target.txt")
    snapshot_target.write_text(OUTSIDE_TEXT)
    snapshot = warehouse.snapshot_path(db)
    # The fixed temporary name earlier versions used, and the snapshot itself.
    snapshot.with_name(snapshot.name + ".tmp").symlink_to(old_temp_target)
    snapshot.symlink_to(snapshot_target)
    config = write_config(tmp_path, [hf_runs_copy])
    result = run_cli("--db", db, "--config", config, "run")
    assert result.exit_code == 0, result.output
    assert old_temp_target.read_text() == OUTSIDE_TEXT
    assert snapshot_target.read_text() == OUTSIDE_TEXT
    assert snapshot.is_file() and not snapshot.is_symlink()
    assert not list(tmp_path.glob(".w.snapshot.duckdb.*.tmp"))
    with duckdb.connect(str(snapshot), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM training_runs").fetchone() == (6,)


def test_report_files_are_never_written_through_links(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    target = outside_file(tmp_path)
    (out / "report.md").symlink_to(target)
    for guess in (".report.md.tmp", "report.md.tmp", ".report.md"):
        (out / guess).symlink_to(target)
    written = report_render.write_files(out, {"report.md": "# fresh\n"})
    assert written == [out / "report.md"]
    assert target.read_text() == OUTSIDE_TEXT
    assert (out / "report.md").is_file() and not (out / "report.md").is_symlink()
    assert (out / "report.md").read_text() == "# fresh\n"
    assert oct((out / "report.md").stat().st_mode & 0o777) == oct(0o644)


# ---------------------------------------------------- 2. one `Error:` line, no traceback


def test_a_refused_snapshot_write_is_one_error_and_leaves_no_temp(tmp_path):
    """A real refused write: the file-size limit (EFBIG, the same path as ENOSPC) is
    lowered once the warehouse is written, so only the snapshot copy hits it."""
    db = tmp_path / "w.duckdb"
    code = textwrap.dedent(f"""
        import resource, signal
        from pathlib import Path
        from reconcile import warehouse
        from reconcile.errors import ReconcileError
        db = Path({str(db)!r})
        con = warehouse.open_for_write(db)
        con.execute("CHECKPOINT")
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, resource.RLIM_INFINITY))
        try:
            warehouse.publish_snapshot(con, db)
        except ReconcileError as exc:
            print(type(exc).__name__, exc.one_line())
    """)
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, cwd=REPO
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("WriteRefusedError "), done.stdout
    assert "cannot publish the snapshot: File too large" in done.stdout
    assert "free disk space" in done.stdout
    assert len(done.stdout.strip().splitlines()) == 1
    assert not list(tmp_path.glob(".w.snapshot.duckdb.*"))
    assert not warehouse.snapshot_path(db).exists()


@pytest.mark.skipif(
    os.geteuid() == 0, reason="root ignores permission bits: needs an unprivileged user"
)
def test_a_database_in_a_read_only_folder_is_one_error_line(tmp_path, hf_runs_copy):
    folder = tmp_path / "read-only"
    folder.mkdir()
    os.chmod(folder, 0o555)
    try:
        for command in (["ingest", hf_runs_copy], ["status"]):
            line = assert_one_error_line(run_cli("--db", folder / "w.duckdb", *command))
            assert str(folder) in line
        assert os.listdir(folder) == []
    finally:
        os.chmod(folder, 0o755)


def test_a_read_only_folder_is_refused_before_duckdb_opens_it(tmp_path, monkeypatch):
    # The check itself, without needing an unprivileged user.
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    with pytest.raises(warehouse.WriteRefusedError, match="folder is read-only"):
        warehouse.open_for_write(tmp_path / "w.duckdb")
    assert not (tmp_path / "w.duckdb").exists()


def _built_warehouse(tmp_path: Path, hf_runs_copy: Path) -> Path:
    db = tmp_path / "w.duckdb"
    config = write_config(tmp_path, [hf_runs_copy])
    assert run_cli("--db", db, "--config", config, "run").exit_code == 0
    return db


@pytest.mark.parametrize("damage", ["truncated", "checksum"])
def test_a_damaged_database_says_so_and_names_the_last_good_snapshot(
    tmp_path, hf_runs_copy, damage
):
    db = _built_warehouse(tmp_path, hf_runs_copy)
    snapshot = warehouse.snapshot_path(db)
    if damage == "truncated":
        os.truncate(db, 3 * 4096 + 1000)  # the headers survive, the blocks do not
    else:
        with db.open("r+b") as stream:  # a data block, past the two headers
            stream.seek(3 * 4096 + 100)
            stream.write(b"\xff" * 200)
    # readers answer from the last good snapshot (current: nothing was written since the
    # run that published it), so the damage does not stop them
    assert run_cli("--db", db, "status").exit_code == 0
    for command in (["ingest", hf_runs_copy], ["estimate"]):
        line = assert_one_error_line(run_cli("--db", db, *command))
        assert "truncated or corrupt" in line
        assert f"the last good snapshot is {snapshot}" in line


def test_a_damaged_database_without_a_snapshot(tmp_path):
    db = tmp_path / "w.duckdb"
    con = warehouse.open_for_write(db)
    con.close()
    os.truncate(db, 3000)
    line = assert_one_error_line(run_cli("--db", db, "status"))
    assert "truncated or corrupt" in line and "no snapshot has been published" in line


def test_the_final_error_follows_the_log_format():
    logs.configure("json", ["customer"])
    event = json.loads(logs.error_line("w.duckdb: broken (customer=Bigbank)"))
    assert event["level"] == "error" and event["event"] == "error"
    assert event["message"] == "w.duckdb: broken (customer=***)"
    assert event["exit_code"] == 1
    logs.configure("human", [])
    assert logs.error_line("a\nb") == "Error: a b"


# ------------------------------------------------------------- 3. the lock's record


def test_a_failed_block_records_its_end(tmp_path):
    db = tmp_path / "w.duckdb"
    with pytest.raises(RuntimeError), writer_lock(db, command="run"):
        raise RuntimeError("boom")
    record = holder(db)
    assert record is not None
    assert record["outcome"] == "failed" and record["finished"]
    with writer_lock(db, command="run") as info:
        assert "took_over_from" not in info
    record = holder(db)
    assert record is not None and record["outcome"] == "ok"


def test_a_failed_run_is_not_reported_as_a_stale_lock(tmp_path, hf_runs_copy):
    db = tmp_path / "w.duckdb"
    missing = write_config(tmp_path, [tmp_path / "no-such-folder"])
    assert_one_error_line(run_cli("--db", db, "--config", missing, "run"))
    record = holder(db)
    assert record is not None and record["outcome"] == "failed" and record["command"] == "run"
    good = write_config(tmp_path, [hf_runs_copy])
    result = run_cli("--db", db, "--config", good, "run", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["took_over_stale_lock"] is False
    assert "lock.taken_over" not in result.stderr


def test_the_busy_message_names_the_command_once(tmp_path, hf_runs_copy):
    db = tmp_path / "w.duckdb"
    config = write_config(tmp_path, [hf_runs_copy])
    with writer_lock(db, command="run"):
        result = run_cli("--db", db, "--config", config, "run", "--lock-timeout", "0")
    line = assert_one_error_line(result)
    assert "`reconcile run` holds the lock (pid" in line
    assert "run run" not in line


# ------------------------------------------------------ 4. Markdown report injection

PAYLOAD = "<img src=x onerror=alert(1)>\n# injected heading `x | y` *e* [l](http://e)"
#: Fields the template compares or looks up (their values are codes, not free text).
_CODES = {"status", "threshold_basis", "flops_basis", "kind", "method", "source_kind"}


def _inject(value: Any, field_name: str = "") -> Any:
    if isinstance(value, str):
        return value if field_name in _CODES else value + PAYLOAD
    if isinstance(value, list):
        return [_inject(v, field_name) for v in value]
    if isinstance(value, dict):
        return {k: _inject(v) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = dataclasses.fields(value)
        changes = {f.name: _inject(getattr(value, f.name), f.name) for f in fields}
        return dataclasses.replace(value, **changes)
    return value


@pytest.fixture
def report_model(tmp_path, hf_runs_copy):
    from reconcile.report import build_report

    db = _built_warehouse(tmp_path, hf_runs_copy)
    con = warehouse.open_for_read(db)
    try:
        return build_report(con, registry=ModelRegistry())
    finally:
        con.close()


def _html(markdown: str) -> str:
    from markdown_it import MarkdownIt

    return str(MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(markdown))


def _table_widths(html: str) -> list[list[int]]:
    widths = []
    for table in re.findall(r"<table>(.*?)</table>", html, re.S):
        rows = re.findall(r"<tr>(.*?)</tr>", table, re.S)
        widths.append([len(re.findall(r"<t[hd][ >]", row)) for row in rows])
    return widths


def test_markdown_report_data_cannot_inject_markup(report_model):
    clean = _html(report_render.to_markdown(report_model))
    injected_model = _inject(report_model)
    markdown = report_render.to_markdown(injected_model)
    html = _html(markdown)
    assert "<img" not in html and "<a " not in html and "<em>e</em>" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    for level in range(1, 7):
        assert html.count(f"<h{level}>") == clean.count(f"<h{level}>"), level
    assert html.count("<code>") == clean.count("<code>")
    assert html.count("<table>") == clean.count("<table>")
    for widths in _table_widths(html):
        assert len(set(widths)) == 1, widths  # every row as wide as its header
    assert _table_widths(html) == _table_widths(clean)
    # No cell lost its tail: the payload survives whole in the model ids' cells.
    assert "injected heading `x | y` *e* [l](http://e)" in html.replace("&quot;", '"')
    assert len(injected_model.models) >= 1
    assert "heading" not in "".join(re.findall(r"<h\d>(?:(?!</h).)*heading", clean))


@pytest.mark.parametrize(
    ("value", "rendered"),
    [
        ("a|b", "<td>a|b</td>"),
        ("`tick`", "<td><code>`tick`</code></td>"),
        ("x|`y`", "<td><code>x|`y`</code></td>"),
    ],
)
def test_code_spans_keep_backticks_and_pipes_inside(value, rendered):
    cell = report_render._md(value, code=True) if "`" in value else report_render._md(value)
    html = _html(f"| h |\n|---|\n| {cell} |\n")
    assert rendered in html, html


# --------------------------------------------------------------- 5. secret tag values


@pytest.mark.parametrize(
    ("text", "leak"),
    [
        ("'customer' should be a string, got ['Bigbank AG']", "Bigbank"),
        ("tags.customer: expected text, got {'name': 'Bigbank AG'}", "Bigbank"),
        ('Original Line: x,"{""customer"": ""Bigbank AG""}"', "Bigbank"),
        ('tags are not JSON: \'{"customer": ["Bigbank AG"], "team": 5\'', "AG"),
        ('tags: {""customer"": ""Bigbank AG""} then later Bigbank AG again', "Bigbank"),
    ],
)
def test_secret_values_are_masked_wherever_they_appear(text, leak):
    set_secret_tags(["customer"])
    assert leak not in redact_secrets(text)


def test_duckdbs_line_excerpt_is_dropped_keeping_the_line_number():
    raw = (
        "Invalid Input Error: CSV Error on Line: 5\n"
        'Original Line: 1,2,"{""customer"": ""Bigbank AG""}"\n'
        "Invalid unicode (byte sequence mismatch) detected."
    )
    for text in (raw, " ".join(raw.split())):
        masked = redact_secrets(text)
        assert "Bigbank" not in masked and "Original Line" not in masked
        assert "CSV Error on Line: 5" in masked and "Invalid unicode" in masked


def _focus_with_secret_and_a_bad_line(folder: Path) -> None:
    rows = list(csv.reader(FOCUS_SAMPLE.open(encoding="utf-8", newline="")))
    header, row = rows[0], rows[1]
    row[header.index("Tags")] = '{"customer": "Bigbank AG", "team": "ml"}'
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for _ in range(3):
        writer.writerow(row)
    bad = list(row)
    bad[header.index("ChargeDescription")] = "Virtual Machines \udcff"
    writer.writerow(bad)
    folder.mkdir()
    (folder / "acme-focus.csv").write_bytes(out.getvalue().encode("utf-8", "surrogateescape"))


def test_secret_tag_values_stay_out_of_duckdb_csv_errors(tmp_path):
    source = tmp_path / "focus"
    _focus_with_secret_and_a_bad_line(source)
    config = write_config(tmp_path, [source], '[logging]\nsecret_tags = ["customer"]\n')
    db = tmp_path / "w.duckdb"
    ingest = run_cli("--config", config, "--db", db, "ingest", "--format", "focus", source)
    assert ingest.exit_code == 3, ingest.output
    assert "Line: 5" in ingest.stderr
    run = run_cli("--config", config, "--log-format", "json", "--db", db, "run")
    assert run.exit_code == 3, run.output
    with duckdb.connect(str(db), read_only=True) as con:
        (error,) = con.execute("SELECT error FROM quarantine").fetchone()
    assert "Line: 5" in error
    out = tmp_path / "out"
    assert run_cli("--config", config, "--db", db, "report", "--out", out).exit_code == 0
    report_text = "".join(p.read_text() for p in out.iterdir())
    for text in (ingest.stdout, ingest.stderr, run.stdout, run.stderr, error, report_text):
        assert "Bigbank" not in text
        assert "Original Line" not in text


def test_the_report_masks_quarantine_errors_recorded_before_the_setting(report_model):
    entry = {"error": 'x.csv: tags are not JSON: \'{"customer": "Bigbank AG"\''}
    from reconcile.report.model import QuarantinedFile

    fields = {f.name: None for f in dataclasses.fields(QuarantinedFile)}
    fields.update(uri="file:///x.csv", format="focus", attempts=1, **entry)
    model = dataclasses.replace(report_model, quarantined=[QuarantinedFile(**fields)])
    set_secret_tags(["customer"])
    for text in report_render.render(model).values():
        assert "Bigbank" not in text
