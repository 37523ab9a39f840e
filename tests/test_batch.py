"""`reconcile run`: the batch job, one at a time, readers served during a run, logs, config."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from reconcile.batch import redact
from reconcile.cli import cli
from reconcile.lock import writer_lock

REPO = Path(__file__).resolve().parents[1]


def write_config(tmp_path: Path, sources: list[Path], extra: str = "") -> Path:
    config = tmp_path / "reconcile.toml"
    blocks = "".join(f'[[sources]]\nuri = "{s}"\n\n' for s in sources)
    config.write_text(blocks + textwrap.dedent(extra))
    return config


def run_cli(*args: str) -> object:
    return CliRunner().invoke(cli, list(args))


def test_run_ingests_estimates_and_publishes_a_snapshot(tmp_path, hf_runs_copy):
    db = tmp_path / "w.duckdb"
    config = write_config(tmp_path, [hf_runs_copy], f'[report]\nout = "{tmp_path / "out"}"\n')
    result = run_cli("--db", str(db), "--config", str(config), "run", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["sources"][0]["new"] == 6
    assert sorted(Path(p).name for p in summary["report"]) == [
        "links.csv",
        "report.html",
        "report.json",
        "report.md",
        "runs.csv",
    ]
    assert (tmp_path / "out" / "report.html").read_text().count("acme-legal-8b") >= 1
    assert summary["models"]["acme-legal-8b"] == "below"
    # Without its job description the DPO run has no sequence length: no token count.
    assert summary["models"]["support-assistant-7b"] == "insufficient_evidence"
    assert (tmp_path / "w.snapshot.duckdb").exists()
    again = json.loads(run_cli("--db", str(db), "--config", str(config), "run", "--json").stdout)
    assert again["sources"][0]["unchanged"] == 6
    assert again["sources"][0]["bytes_read"] == 0


def test_run_fail_on_and_quarantine_exit_codes(tmp_path, hf_runs_copy):
    bad = hf_runs_copy / "broken" / "job"
    bad.mkdir(parents=True)
    (bad / "trainer_state.json").write_text("{")
    db = tmp_path / "w.duckdb"
    config = write_config(tmp_path, [hf_runs_copy])
    result = run_cli("--db", str(db), "--config", str(config), "run")
    assert result.exit_code == 3
    assert "1 quarantined" in result.stdout


def test_a_second_run_waits_then_names_the_running_one(tmp_path, hf_runs_copy):
    db = tmp_path / "w.duckdb"
    config = write_config(tmp_path, [hf_runs_copy])
    with writer_lock(db, command="run"):
        started = time.monotonic()
        result = run_cli("--db", str(db), "--config", str(config), "run", "--lock-timeout", "0.5")
        waited = time.monotonic() - started
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ")
    assert f"holds the lock (pid {os.getpid()}" in result.stderr
    assert waited >= 0.5
    # ingest and estimate are writers too
    result = run_cli("--db", str(db), "ingest", str(hf_runs_copy))
    assert result.exit_code == 0  # lock released


def test_a_killed_run_leaves_a_stale_lock_that_is_taken_over(tmp_path, hf_runs_copy):
    db = tmp_path / "w.duckdb"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
            import time
            from pathlib import Path
            from reconcile.lock import writer_lock
            with writer_lock(Path({str(db)!r}), command="run"):
                print("locked", flush=True)
                time.sleep(60)
        """),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    config = write_config(tmp_path, [hf_runs_copy])
    result = run_cli(
        "--db", str(db), "--config", str(config), "run", "--json", "--lock-timeout", "0"
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["took_over_stale_lock"] is True


def test_queries_answer_from_the_snapshot_while_a_run_writes(tmp_path, hf_runs_copy):
    db = tmp_path / "w.duckdb"
    writer_code = textwrap.dedent(f"""
        import time, duckdb
        from pathlib import Path
        from reconcile.lock import writer_lock
        with writer_lock(Path({str(db)!r}), command="run"):
            con = duckdb.connect({str(db)!r})
            print("writing", flush=True)
            time.sleep(60)
    """)
    # Before any completed run there is nothing to answer from.
    assert run_cli("--db", str(db), "ingest", str(hf_runs_copy)).exit_code == 0
    writer = subprocess.Popen(
        [sys.executable, "-c", writer_code], stdout=subprocess.PIPE, text=True
    )
    try:
        assert writer.stdout is not None and writer.stdout.readline().strip() == "writing"
        busy = run_cli("--db", str(db), "query", "runs")
        assert busy.exit_code == 1
        assert "has been writing since" in busy.stderr and "no snapshot" in busy.stderr
    finally:
        writer.kill()
        writer.wait()
    config = write_config(tmp_path, [hf_runs_copy])
    assert run_cli("--db", str(db), "--config", str(config), "run").exit_code == 0
    writer = subprocess.Popen(
        [sys.executable, "-c", writer_code], stdout=subprocess.PIPE, text=True
    )
    try:
        assert writer.stdout is not None and writer.stdout.readline().strip() == "writing"
        result = run_cli("--db", str(db), "query", "runs", "--format", "json")
        assert result.exit_code == 0, result.output
        assert len(json.loads(result.stdout)) == 6
        assert result.stderr.startswith("Note: ")
        assert "answering from the snapshot" in result.stderr
        status = run_cli("--db", str(db), "status", "--json")
        assert status.exit_code == 0
    finally:
        writer.kill()
        writer.wait()


def test_json_logs_and_redaction(tmp_path, hf_runs_copy):
    db = tmp_path / "w.duckdb"
    config = write_config(tmp_path, [hf_runs_copy])
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "reconcile",
            "--db",
            str(db),
            "--config",
            str(config),
            "--log-format",
            "json",
            "run",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stderr.splitlines() if line.strip()]
    names = [e["event"] for e in events]
    assert names[0] == "run.start" and names[-1] == "run.done"
    assert "ingest.source" in names and "estimate.done" in names
    assert all({"time", "level", "event"} <= set(e) for e in events)
    signed = "https://user:secret@bucket.s3.amazonaws.com/k?X-Amz-Signature=abc&X-Amz-Credential=x"
    assert redact(signed) == "https://bucket.s3.amazonaws.com/k"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ('[[sources]]\nformat = "hf_checkpoint"\n', "'sources[0].uri' is required"),
        ('[[sources]]\nuri = "x"\nbucket = "y"\n', "unknown key 'sources[0].bucket'"),
        ('[[sources]]\nuri = "x"\ninclude = "*.json"\n', "'sources[0].include' must be a list"),
        ('sources = "s3://x"\n', "'sources' must be list"),
        ("", "no sources configured"),
    ],
)
def test_config_errors_name_the_key(tmp_path, config, message):
    path = tmp_path / "reconcile.toml"
    path.write_text(config)
    result = run_cli("--db", str(tmp_path / "w.duckdb"), "--config", str(path), "run")
    assert result.exit_code == 1
    assert message in result.stderr
    assert result.stderr.count("\n") == 1


def test_include_and_exclude_globs(tmp_path, hf_runs_copy):
    config = tmp_path / "reconcile.toml"
    config.write_text(
        f'[[sources]]\nuri = "{hf_runs_copy}"\ninclude = ["aws/**"]\n'
        'exclude = ["**/qwen7b-dpo-*/**"]\n'
    )
    result = run_cli("--db", str(tmp_path / "w.duckdb"), "--config", str(config), "run", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["sources"][0]["new"] == 1  # only the SFT run folder


def test_config_show_says_where_values_come_from(tmp_path, monkeypatch, hf_runs_copy):
    config = write_config(tmp_path, [hf_runs_copy], "[run]\nlock_timeout = 30\n")
    monkeypatch.setenv("RECONCILE_LOG_FORMAT", "json")
    result = run_cli("--config", str(config), "config", "show")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert "db = reconcile.duckdb  (default)" in lines
    assert "log_format = json  (env)" in lines
    assert f"run.lock_timeout = 30  (file {config})" in lines
    flag = run_cli("--db", "x.duckdb", "--config", str(config), "config", "show")
    assert "db = x.duckdb  (flag)" in flag.stdout.splitlines()


def test_deployment_examples_use_the_same_command():
    command = "--config /etc/reconcile/reconcile.toml --log-format json run --lock-timeout 300"
    crontab = (REPO / "deploy" / "crontab").read_text()
    service = (REPO / "deploy" / "systemd" / "reconcile.service").read_text()
    cronjob = (REPO / "deploy" / "kubernetes" / "cronjob.yaml").read_text()
    (entry,) = [line for line in crontab.splitlines() if line and not line.startswith("#")]
    fields = entry.split(None, 5)
    assert len(fields) == 6 and fields[0].isdigit()  # five schedule fields and a command
    assert command in entry and command in service
    assert '"run", "--lock-timeout", "300"' in cronjob


KUBERNETES = REPO / "deploy" / "kubernetes"
MANIFESTS = ("serviceaccount.yaml", "configmap.yaml", "pvc.yaml", "cronjob.yaml")


def _tool(name: str) -> str:
    found = shutil.which(name) or str(Path(sys.executable).with_name(name))
    if not Path(found).exists():
        pytest.skip(f"{name} is not installed (test extra)")
    return found


def test_kubernetes_manifests_pass_the_schema_check():
    done = subprocess.run(
        [_tool("kubernetes-validate"), "--strict", *(str(KUBERNETES / m) for m in MANIFESTS)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert (done.stdout + done.stderr).count("passed") == len(MANIFESTS)


def test_kubernetes_manifests_are_complete_and_agree_with_each_other_and_the_image(tmp_path):
    """Everything the CronJob names exists in the folder (kustomization lists it all), its
    config parses as a reconcile.toml, and it runs as the Dockerfile's non-root user."""
    import yaml

    from reconcile import settings as config_module

    docs = {m: yaml.safe_load((KUBERNETES / m).read_text()) for m in MANIFESTS}
    kustomization = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())
    assert sorted(kustomization["resources"]) == sorted(MANIFESTS)
    pod = docs["cronjob.yaml"]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == docs["serviceaccount.yaml"]["metadata"]["name"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["config"]["configMap"]["name"] == docs["configmap.yaml"]["metadata"]["name"]
    assert (
        volumes["data"]["persistentVolumeClaim"]["claimName"]
        == docs["pvc.yaml"]["metadata"]["name"]
    )
    annotations = docs["serviceaccount.yaml"]["metadata"]["annotations"]
    assert {
        "eks.amazonaws.com/role-arn",
        "iam.gke.io/gcp-service-account",
        "azure.workload.identity/client-id",
    } <= set(annotations)
    toml = tmp_path / "reconcile.toml"
    toml.write_text(docs["configmap.yaml"]["data"]["reconcile.toml"])
    assert config_module.load(toml, required=True)["sources"]
    dockerfile = (REPO / "Dockerfile").read_text()
    (user,) = [line.split()[1] for line in dockerfile.splitlines() if line.startswith("USER ")]
    assert user == f"{pod['securityContext']['runAsUser']}:{pod['securityContext']['runAsGroup']}"
    assert pod["securityContext"]["runAsNonRoot"] is True
    container = pod["containers"][0]
    assert container["image"].rsplit(":", 1)[0] == kustomization["images"][0]["name"]
    assert 'ENTRYPOINT ["reconcile"]' in dockerfile


def test_the_dockerfile_passes_hadolint():
    done = subprocess.run(
        [_tool("hadolint"), str(REPO / "Dockerfile")], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_image_builds_where_a_container_builder_exists(tmp_path):
    builder = shutil.which("docker") or shutil.which("podman")
    if builder is None:
        pytest.skip("no container builder (docker or podman) on this machine")
    if subprocess.run([builder, "info"], capture_output=True, check=False).returncode != 0:
        pytest.skip(f"{builder} finds no daemon to build with on this machine")
    done = subprocess.run(
        [builder, "build", "-q", "-t", "reconcile-test:ci", str(REPO)],
        capture_output=True,
        text=True,
        check=False,
        timeout=1800,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_systemd_units_verify():
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze not available")
    done = subprocess.run(
        [
            analyze,
            "verify",
            "--man=no",
            str(REPO / "deploy/systemd/reconcile.service"),
            str(REPO / "deploy/systemd/reconcile.timer"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    # The only complaint allowed is that the example's install path does not exist here.
    problems = [
        line
        for line in (done.stdout + done.stderr).splitlines()
        if line.strip() and "is not executable: No such file" not in line
    ]
    assert problems == []


def test_report_history_keeps_each_changed_report_and_a_latest_copy(tmp_path, hf_runs_copy):
    """[report] history: a dated copy of every report that differs from the previous one,
    `latest` replaced as a whole; a run that changes nothing writes no report."""
    db = tmp_path / "w.duckdb"
    out = tmp_path / "reports"
    config = write_config(tmp_path, [hf_runs_copy])
    config.write_text(
        config.read_text() + f'\n[report]\nout = "{out}"\nformats = ["json"]\nhistory = true\n'
    )
    first = run_cli("--db", str(db), "--config", str(config), "run", "--json")
    assert first.exit_code == 0, first.output
    (written,) = json.loads(first.stdout)["report"]
    dated = Path(written).parent
    assert dated.parent == out and dated.name.endswith("Z")
    assert (out / "latest" / "report.json").read_bytes() == Path(written).read_bytes()

    again = run_cli("--db", str(db), "--config", str(config), "run", "--json")
    assert json.loads(again.stdout)["report"] == []  # nothing changed: nothing written
    assert sorted(p.name for p in out.iterdir()) == sorted([dated.name, "latest"])

    extra = tmp_path / "more"
    extra.mkdir()
    (extra / "late.runs.csv").write_text("job_name,base_model,tokens\nlate-run,gpt2,1000000\n")
    config.write_text(
        config.read_text().replace("[report]", f'[[sources]]\nuri = "{extra}"\n\n[report]')
    )
    third = run_cli("--db", str(db), "--config", str(config), "run", "--json")
    (newer,) = json.loads(third.stdout)["report"]
    assert Path(newer).parent != dated
    assert (out / "latest" / "report.json").read_bytes() == Path(newer).read_bytes()
    kept = sorted(p.name for p in out.iterdir() if p.name != "latest")
    assert kept == sorted({dated.name, Path(newer).parent.name})  # nothing hidden left over


def test_an_unchanged_run_skips_the_estimate_and_the_report(tmp_path, sample_data):
    """The hourly job's common case: nothing new since the last run. The estimate and the
    report in place stand (nothing recomputed, no file rewritten); a new file, a changed
    [estimate] option or a deleted report each make the run do that work again."""
    root = tmp_path / "org"
    shutil.copytree(sample_data, root)
    out = tmp_path / "out"
    base = (root / "reconcile.toml").read_text(encoding="utf-8")
    config = tmp_path / "reconcile.toml"
    config.write_text(
        f'[[sources]]\nuri = "{root}"\n\n[report]\nout = "{out}"\n\n{base}', encoding="utf-8"
    )
    db = tmp_path / "w.duckdb"

    def run() -> dict:
        result = run_cli("--db", str(db), "--config", str(config), "run", "--json")
        assert result.exit_code in (0, 3), result.output
        return json.loads(result.stdout)

    def computed_at() -> object:
        with duckdb.connect(str(db), read_only=True) as con:
            return con.execute("SELECT max(computed_at) FROM run_estimates").fetchone()[0]

    first = run()
    assert (first["estimate"], first["report_state"]) == ("done", "written")
    stamps = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    estimated = computed_at()

    again = run()
    assert (again["estimate"], again["report_state"]) == ("unchanged", "unchanged")
    assert again["models"] == first["models"] and again["report"] == []
    assert computed_at() == estimated
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == stamps

    (out / "report.json").unlink()  # the report is gone: written again, estimate stands
    third = run()
    assert (third["estimate"], third["report_state"]) == ("unchanged", "written")
    assert (out / "report.json").is_file()

    config.write_text(config.read_text().replace('tag_keys = ["project"]', 'tag_keys = ["team"]'))
    fourth = run()  # a section the estimate reads changed
    assert (fourth["estimate"], fourth["report_state"]) == ("done", "written")
    assert computed_at() > estimated

    shutil.copy(
        root / "onprem" / "runs" / "manual.runs.csv", root / "onprem" / "runs" / "again.runs.csv"
    )
    fifth = run()  # new evidence
    assert fifth["sources"][0]["new"] == 1
    assert fifth["estimate"] == "done"
