"""Headroom before review and provider, crossing dates, and the status-change webhook."""

from __future__ import annotations

import json
import statistics
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconcile import compliance, headroom, warehouse
from reconcile.cli import cli

T = 3.3e22  # the default threshold (1/3 x 10^23 FLOP)


def test_headroom_uses_the_bands_high_end_and_the_review_margin():
    """central 2.0e22, high 2.4e22 against 3.3e22 with the 30 % margin: before provider
    3.3e22 - 2.4e22 = 9.0e21; before review the least of 9.0e21 and 3.3e22 / 1.3 - 2.0e22
    = 5.3846e21."""
    assert compliance.ACCURACY_MARGIN == 0.3
    to_review, to_provider = headroom.flops_left(2.0e22, 2.4e22, T)
    assert to_provider == pytest.approx(9.0e21, rel=1e-12)
    assert to_review == pytest.approx(3.3e22 / 1.3 - 2.0e22, rel=1e-12)
    assert headroom.flops_left(3.0e22, 3.4e22, T) == (0.0, 0.0)  # in review already
    assert headroom.flops_left(None, None, T) == (None, None)


def test_crossing_dates_follow_the_runs_in_the_order_they_ended():
    """Runs of 1.0e22 (high 1.2e22) ending 1 May, 1 June, 1 July, 1 August: after two the
    central 2.0e22 x 1.3 = 2.6e22 < 3.3e22 and high 2.4e22: below; after three central
    3.0e22 x 1.3 >= 3.3e22: review on 1 July; after four 4.0e22 > 3.3e22: provider on
    1 August. Listed out of order, the same; a run without a date that alone holds the
    model in review cannot be placed: no date."""
    day = [datetime(2025, m, 1, tzinfo=UTC) for m in (5, 6, 7, 8)]
    runs = [
        (day[3], 1e22, 1.2e22),
        (day[0], 1e22, 1.2e22),
        (day[2], 1e22, 1.2e22),
        (day[1], 1e22, 1.2e22),
    ]
    assert headroom.crossings(runs, T) == (day[2], day[3])
    assert headroom.crossings([(None, 3.0e22, 3.1e22), (day[0], 1e21, 1e21)], T) == (None, None)
    assert headroom.crossings([(day[0], 1e21, 1e21)], T) == (None, None)


def _sql(db: Path, text: str) -> list[tuple]:
    con = warehouse.open_for_read(db)
    try:
        return con.execute(text).fetchall()
    finally:
        con.close()


def test_status_json_carries_headroom_hours_and_crossings_on_the_sample(tmp_path, sample_data):
    db = tmp_path / "w.duckdb"
    config = sample_data / "reconcile.toml"
    for args in (["ingest", str(sample_data)], ["estimate"]):
        result = CliRunner().invoke(cli, ["--db", str(db), "--config", str(config), *args])
        assert result.exit_code in (0, 3), result.output
    result = CliRunner().invoke(cli, ["--db", str(db), "status", "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["model_id"]: r for r in json.loads(result.stdout)}

    # The three Mistral CPT runs, summed in the order they ended (independently here).
    runs = _sql(
        db,
        "SELECT r.ended_at, e.flops_central, e.flops_high FROM model_lineage l "
        "JOIN resolved_runs r ON r.run_key = l.run_id JOIN run_estimates e "
        "ON e.run_id = l.run_id AND e.method = 'combined' "
        "WHERE l.model_id = 'acme-mistral-7b-cpt' ORDER BY r.ended_at",
    )
    assert len(runs) == 3
    central = high = 0.0
    review_at = provider_at = None
    for ended, c, h in runs:
        central, high = central + c, high + h
        if review_at is None and (high >= T or central * 1.3 >= T):
            review_at = ended
        if provider_at is None and central > T:
            provider_at = ended
    cpt = rows["acme-mistral-7b-cpt"]["headroom"]
    assert cpt["crossed_provider_at"] == provider_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert cpt["crossed_review_at"] == review_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert (cpt["flops_to_review"], cpt["flops_to_provider"]) == (0.0, 0.0)

    pythia = rows["acme-pythia-1b-domain"]
    room = pythia["headroom"]
    assert room["flops_to_provider"] == pytest.approx(
        pythia["threshold_flops"] - pythia["flops_high"], rel=1e-12
    )
    # In H100-hours at the median implied utilisation of the organisation's H100 runs.
    implied = [
        json.loads(a)["implied_utilisation"]
        for (a,) in _sql(
            db,
            "SELECT e.assumptions FROM resolved_runs r JOIN run_estimates e "
            "ON e.run_id = r.run_key AND e.method = 'architecture' "
            "WHERE r.accelerator = 'NVIDIA H100 SXM5-80GB'",
        )
        if a and 0 < (json.loads(a).get("implied_utilisation") or 0) <= 1
    ]
    h100 = next(h for h in room["hours"] if h["accelerator"] == "NVIDIA H100 SXM5-80GB")
    assert h100["utilisation"] == pytest.approx(statistics.median(implied), rel=1e-12)
    dense_bf16 = 989.5e12  # H100 SXM5 dense BF16 (the catalog's row; NVIDIA H100 datasheet)
    assert h100["hours_to_provider"] == pytest.approx(
        room["flops_to_provider"] / (dense_bf16 * h100["utilisation"] * 3600), rel=1e-9
    )
    text = CliRunner().invoke(cli, ["--db", str(db), "status", "--model", "acme-pythia-1b-domain"])
    assert "headroom before provider: " in text.output
    assert "more NVIDIA H100 SXM5-80GB-hours at the" in text.output

    out = tmp_path / "report"
    result = CliRunner().invoke(cli, ["--db", str(db), "report", "--out", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    for model in report["models"]:
        assert model["headroom"] == rows[model["model_id"]]["headroom"]
    html = (out / "report.html").read_text(encoding="utf-8")
    crossed = cpt["crossed_provider_at"][:10]
    assert f"Headroom and crossings</dt><dd>crossed into provider on {crossed}" in html


class _Hook:
    """A local webhook: records each POST body; answers ``status``."""

    def __init__(self, status: int = 204) -> None:
        self.bodies: list[dict] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                hook.bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/secret-token"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize("answer", [204, 500])
def test_a_status_change_posts_one_event_to_the_webhook(tmp_path, sample_data, answer):
    """The sample organisation, then the same with Pythia-1B's pretraining compute
    overridden to 1e23 FLOP in [models] (threshold 3.3e22): acme-pythia-1b-domain moves
    from review to below. One POST with that change and every model's status and
    headroom. A webhook answering 500 fails nothing but is said (never its path)."""
    hook = _Hook(answer)
    try:
        config = tmp_path / "reconcile.toml"
        base = (
            f'[[sources]]\nuri = "{sample_data}"\n\n[notify]\nwebhook = "{hook.url}"\n'
            "timeout = 5\n\n" + (sample_data / "reconcile.toml").read_text(encoding="utf-8")
        )
        config.write_text(base, encoding="utf-8")
        db = tmp_path / "w.duckdb"

        def run() -> tuple[dict, str]:
            result = CliRunner().invoke(
                cli, ["--db", str(db), "--config", str(config), "run", "--json"]
            )
            assert result.exit_code in (0, 3), result.output
            return json.loads(result.stdout), result.stderr

        first, _ = run()
        assert first["notified"] == "none" and hook.bodies == []  # nothing changed yet
        config.write_text(
            base + '\n[models.base."EleutherAI/pythia-1b"]\npretraining_flops = 1.0e23\n'
            'source = "test"\n',
            encoding="utf-8",
        )
        second, stderr = run()
        assert len(hook.bodies) == 1
        event = hook.bodies[0]
        assert event["event"] == "status_changed"
        assert event["changes"] == [
            {"model_id": "acme-pythia-1b-domain", "before": "review", "now": "below"}
        ]
        assert event["models"]["acme-pythia-1b-domain"]["status"] == "below"
        assert (
            event["models"]["acme-pythia-1b-domain"]["headroom"]
            == (second["headroom"]["acme-pythia-1b-domain"])
        )
        assert set(event["models"]) == set(second["models"])
        if answer == 204:
            assert second["notified"] == "sent"
        else:
            assert second["notified"].endswith("the webhook answered HTTP 500")
            assert "secret-token" not in second["notified"] and "secret-token" not in stderr
            assert "notify.failed" in stderr
        third, _ = run()  # nothing new: no event
        assert third["notified"] == "none" and len(hook.bodies) == 1
    finally:
        hook.close()
