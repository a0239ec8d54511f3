"""The dashboard in a real browser against a real server with the demo data: what a recruiter
sees agrees with what the API says, writes are safe against a concurrent change, and a key
that stops working returns to the sign-in screen. Each view's screenshot lands in
var/screenshots/ (the README shows two of them, copied to docs/)."""

from __future__ import annotations

import re
from typing import Any

from tests.browser.conftest import Server, open_view, screenshot, wait_ready

ROW_RENDER_BUDGET_MS = 200


def hundredths(text: str) -> int:
    return round(float(text.replace("\N{MINUS SIGN}", "-")) * 100)


def unlabelled_fields(page: Any) -> list[str]:
    """Form fields a screen reader could not name (each needs a <label for>)."""
    return list(
        page.eval_on_selector_all(
            "main input, main select, main textarea",
            "fields => fields.filter(f => f.labels.length === 0).map(f => f.id || f.name)",
        )
    )


def active_applications(server: Server, job_id: str) -> list[dict[str, Any]]:
    with server.api() as api:
        page = api.get(f"/v1/jobs/{job_id}/applications", params={"status": "active", "limit": 200})
        return list(page.json()["data"])


def demo_job(server: Server, role: str = "tpm") -> dict[str, Any]:
    with server.api() as api:
        jobs = api.get("/v1/jobs", params={"role": role}).json()["data"]
    return dict(jobs[0])


def test_sign_in_keeps_the_key_in_the_tab_only(page: Any, server: Server, sign_in) -> None:
    page.goto(f"{server.url}/ui/")
    assert page.is_visible("#signin") and not page.is_visible("#nav")
    page.fill("#key", "rf_not-a-key")
    page.click("#signin-form button[type=submit]")
    problem = page.wait_for_selector("#signin-problem .problem")
    assert "Unauthorized" in problem.inner_text()
    assert "unknown or revoked" in problem.inner_text()
    assert page.is_visible("#signin")

    sign_in()
    assert page.is_visible("#nav") and not page.is_visible("#signin")
    assert page.locator("#roles tbody tr").count() >= 2
    assert page.evaluate("sessionStorage.getItem('rolefit.apiKey')") == server.admin_key
    assert page.evaluate("localStorage.length") == 0
    assert page.context.cookies() == []
    assert server.admin_key not in page.url
    screenshot(page, "roles")


def test_signing_in_works_from_the_keyboard_alone(page: Any, server: Server) -> None:
    page.goto(f"{server.url}/ui/#/roles")
    page.wait_for_selector("#signin", state="visible")
    assert page.evaluate("document.activeElement.id") == "key"  # focused for the user
    page.keyboard.type(server.admin_key)
    page.keyboard.press("Enter")
    wait_ready(page, "#/roles")
    page.focus("#roles tbody tr:last-child a")  # the last role, by keyboard: Enter follows it
    target = page.evaluate("document.activeElement.getAttribute('href')")
    page.keyboard.press("Enter")
    wait_ready(page, target)
    assert page.locator("#ranking tbody tr").count() > 0


def test_the_ranking_is_in_score_order_and_renders_200_rows_fast(
    page: Any, server: Server, sign_in
) -> None:
    sign_in(route="#/roles/tpm")
    assert unlabelled_fields(page) == []
    table = page.locator("#ranking")
    assert table.get_attribute("data-rows") == "200"
    render_ms = float(table.get_attribute("data-render-ms"))
    assert render_ms < ROW_RENDER_BUDGET_MS, f"200 rows took {render_ms} ms"

    rows = page.locator("#ranking tbody tr")
    shown = rows.evaluate_all(
        "rows => rows.map(r => [r.dataset.mustHavesMet === 'true', Number(r.dataset.score),"
        " r.querySelector('th a').getAttribute('href')])"
    )
    keys = [(met, score) for met, score, _href in shown]
    assert keys == sorted(keys, reverse=True), "must-haves met first, then score"
    with server.api() as api:
        ranking = api.get("/v1/roles/tpm/matches", params={"limit": 200}).json()["data"]
        summary = api.get("/v1/roles/tpm/matches/summary").json()
    assert [href for _m, _s, href in shown] == [
        f"#/candidates/{i['candidate']['id']}" for i in ranking
    ]
    shown_scores = rows.locator("td.score").all_inner_texts()
    assert shown_scores == [f"{item['score']:.2f}" for item in ranking]
    assert page.locator(".histogram rect.bar").count() == len(summary["histogram"]) == 10
    screenshot(page, "ranking")

    page.fill("#min_score", "70")
    page.select_option("#must_haves_met", "true")
    page.click(".filters button[type=submit]")
    wait_ready(page, "#/roles/tpm?min_score=70&must_haves_met=true")
    filtered = page.locator("#ranking tbody tr").evaluate_all(
        "rows => rows.map(r => [r.dataset.mustHavesMet, Number(r.dataset.score)])"
    )
    with server.api() as api:
        expected = api.get(
            "/v1/roles/tpm/matches",
            params={"limit": 200, "min_score": 70, "must_haves_met": "true"},
        ).json()["data"]
    assert len(filtered) == len(expected) > 0
    assert all(met == "true" and score >= 70 for met, score in filtered)


def test_each_breakdown_adds_up_to_the_score_shown(page: Any, server: Server, sign_in) -> None:
    with server.api() as api:
        top = api.get("/v1/roles/tmp/matches", params={"limit": 1}).json()["data"][0]
        matches = api.get(f"/v1/candidates/{top['candidate']['id']}/matches").json()["matches"]
    sign_in(route=f"#/candidates/{top['candidate']['id']}")
    cards = page.locator("article.match")
    assert cards.count() == len(matches) == 2
    for index, match in enumerate(matches):
        card = cards.nth(index)
        assert card.get_attribute("data-role") == match["role"]
        score_shown = card.locator("h3 .score").inner_text()
        contributions = card.locator("td.contribution").all_inner_texts()
        assert len(contributions) == len(match["breakdown"])
        assert sum(hundredths(text) for text in contributions) == hundredths(score_shown)
        assert card.locator("tfoot .total").inner_text() == score_shown
        assert hundredths(score_shown) == round(match["score"] * 100)
        musts = [row["competency"] for row in match["breakdown"] if row["must_have"]]
        assert card.locator("tr.must").count() == len(musts)
        assert card.locator(".stack .segment").count() == sum(
            1 for row in match["breakdown"] if row["contribution"] > 0
        )
    assert page.locator("[data-field=email]").count() == 1  # an admin key sees contact fields
    screenshot(page, "candidate", full_page=True)


def test_the_fit_leaning_is_the_apis(page: Any, server: Server, sign_in) -> None:
    with server.api() as api:
        tpm = api.get("/v1/roles/tpm/matches", params={"limit": 1}).json()["data"][0]
        tmp = api.get("/v1/roles/tmp/matches", params={"limit": 1}).json()["data"][0]
        middle = api.get("/v1/roles/tpm/matches", params={"limit": 100}).json()["data"][99]
        people = [item["candidate"]["id"] for item in (tpm, tmp, middle)]
        fits = [api.get(f"/v1/candidates/{person}/fit").json() for person in people]
    assert {"tpm", "tmp"} <= {fit["leaning"] for fit in fits}
    sign_in(route=f"#/candidates/{people[0]}")
    for person, fit in zip(people, fits, strict=True):
        open_view(page, f"#/candidates/{person}")
        section = page.locator("section.fit")
        assert section.get_attribute("data-leaning") == fit["leaning"]
        text = section.locator(".leaning").inner_text()
        assert f"Leans to {fit['leaning']}" in text
        assert f"{fit['margin']:.2f}" in text
        rows = section.locator("tbody tr")
        assert rows.count() == len(fit["differentiators"])
        for row, differentiator in zip(rows.all(), fit["differentiators"], strict=True):
            assert row.locator("th").inner_text() == differentiator["competency"]
            aspect = differentiator["aspect"] or "\N{EN DASH}"
            assert row.locator("td").first.inner_text() == aspect


def test_a_move_from_the_job_view_changes_the_stage(page: Any, server: Server, sign_in) -> None:
    job = demo_job(server)
    application = active_applications(server, job["id"])[0]
    stages = [stage for stage in job["stages"] if stage["id"] != application["stage"]["id"]]
    target = stages[-1]
    sign_in(route=f"#/jobs/{job['id']}?application={application['id']}")
    assert page.locator("#funnel tbody tr").count() == len(job["stages"])
    assert page.locator(".board .column").count() == len(job["stages"])
    assert page.locator(".timeline li").count() >= 1
    assert unlabelled_fields(page) == []
    screenshot(page, "job")

    page.select_option("#to-stage", target["id"])
    page.fill("#move-note", "moved from the dashboard")
    page.click("#move button[type=submit]")
    done = page.wait_for_selector("#application .done")
    assert target["name"] in done.inner_text()
    wait_ready(page, f"#/jobs/{job['id']}?application={application['id']}")
    with server.api() as api:
        now = api.get(f"/v1/applications/{application['id']}").json()
        history = api.get(f"/v1/applications/{application['id']}/transitions").json()["data"]
    assert now["stage"]["id"] == target["id"]
    assert history[-1]["kind"] == "moved" and history[-1]["note"] == "moved from the dashboard"
    assert page.locator("#application").get_attribute("data-stage") == target["id"]
    assert "moved from the dashboard" in page.locator(".timeline li").last.inner_text()


def test_reject_with_a_reason_then_unreject_and_a_refused_hire(
    page: Any, server: Server, sign_in
) -> None:
    job = demo_job(server)
    assert job["hired"] == job["openings"], "the demo's tpm job has filled its openings"
    application = active_applications(server, job["id"])[1]
    route = f"#/jobs/{job['id']}?application={application['id']}"
    sign_in(route=route)

    page.click("#hire button[type=submit]")
    refused = page.wait_for_selector("#application .conflict")
    assert "Conflict" in refused.inner_text()
    assert f"filled all its {job['openings']} openings" in refused.inner_text()
    wait_ready(page, route)

    page.select_option("#reason", "weaker-than-others")
    page.fill("#reject-note", "a stronger shortlist")
    page.click("#reject button[type=submit]")
    page.wait_for_selector("#application[data-status=rejected] .done")
    with server.api() as api:
        rejected = api.get(f"/v1/applications/{application['id']}").json()
    assert rejected["status"] == "rejected"
    assert rejected["rejection"]["reason"] == "weaker-than-others"
    wait_ready(page, route)

    page.click("#unreject button[type=submit]")
    page.wait_for_selector("#application[data-status=active] .done")
    with server.api() as api:
        again = api.get(f"/v1/applications/{application['id']}").json()
    assert again["status"] == "active" and again["stage"]["id"] == application["stage"]["id"]


def test_a_stale_move_shows_the_conflict_and_writes_nothing(
    page: Any, server: Server, sign_in
) -> None:
    job = demo_job(server, "tmp")
    application = active_applications(server, job["id"])[0]
    others = [stage for stage in job["stages"] if stage["id"] != application["stage"]["id"]]
    sign_in(route=f"#/jobs/{job['id']}?application={application['id']}")

    # Behind the page's back, another recruiter moves it first.
    with server.api() as api:
        current = api.get(f"/v1/applications/{application['id']}")
        moved = api.post(
            f"/v1/applications/{application['id']}/move",
            json={"from_stage": application["stage"]["id"], "to_stage": others[0]["id"]},
            headers={"If-Match": current.headers["ETag"], "Idempotency-Key": "browser-stale-1"},
        )
        assert moved.status_code == 200, moved.text

    page.select_option("#to-stage", others[-1]["id"])
    page.click("#move button[type=submit]")
    conflict = page.wait_for_selector("#application .conflict")
    text = conflict.inner_text()
    assert "since you opened it" in text
    assert re.search(r"Precondition Failed|Conflict", text)
    assert conflict.query_selector(".problem-detail") is not None
    with server.api() as api:
        after = api.get(f"/v1/applications/{application['id']}").json()
    assert after["stage"]["id"] == others[0]["id"], "the stale move wrote nothing"
    # Reloaded: the page now shows where the other recruiter put it.
    wait_ready(page, f"#/jobs/{job['id']}?application={application['id']}")
    assert page.locator("#application").get_attribute("data-stage") == others[0]["id"]


def test_a_bias_audit_run_from_the_page_is_the_stored_report(
    page: Any, server: Server, sign_in
) -> None:
    sign_in(route="#/audits")
    assert unlabelled_fields(page) == []
    page.select_option("#audit-target", "role:tpm")
    page.select_option("#audit-selection", "band-good-or-better")
    page.click("#run-audit button[type=submit]")
    page.wait_for_function("() => /^#\\/audits\\/[0-9a-f-]{36}$/.test(location.hash)")
    route = page.evaluate("location.hash")
    wait_ready(page, route)
    with server.api() as api:
        report = api.get(f"/v1/bias-audits/{route.rsplit('/', 1)[1]}").json()
    assert report["population"] == 200
    tables = page.locator("table.audit")
    assert tables.count() == len(report["dimensions"]) == 3
    sex = report["dimensions"][0]
    rows = tables.first.locator("tbody tr")
    assert rows.count() == len(sex["categories"])
    for row, category in zip(rows.all(), sex["categories"], strict=True):
        cells = row.locator("td").all_inner_texts()
        assert row.locator("th").inner_text().startswith(category["category"])
        assert int(cells[0]) == category["n"] and int(cells[1]) == category["scored_above"]
    marked = tables.first.locator("th.not-required").all_inner_texts()
    assert len(marked) == 5 and all(text.endswith("†") for text in marked)
    assert "Not required by the DCWP rule" in page.inner_text("#extra-note")
    screenshot(page, "audit")

    open_view(page, "#/audits")
    assert page.locator(f"#audits a[href='{route}']").count() == 1


def test_a_read_only_key_sees_no_contact_fields_and_the_problem_it_meets(
    page: Any, server: Server, sign_in
) -> None:
    with server.api() as api:
        top = api.get("/v1/roles/tpm/matches", params={"limit": 1}).json()["data"][0]
    sign_in(server.dashboard_key, f"#/candidates/{top['candidate']['id']}")
    assert page.locator("[data-field=email]").count() == 0
    assert "no candidates:pii" in page.inner_text("main")
    open_view(page, "#/audits")
    problem = page.locator("main .problem")
    assert problem.locator(".problem-title").inner_text() == "Forbidden"
    assert "audit:read" in problem.locator(".problem-detail").inner_text()

    job = demo_job(server)
    application = active_applications(server, job["id"])[-1]
    open_view(page, f"#/jobs/{job['id']}?application={application['id']}")
    page.click("#move button[type=submit]")
    refused = page.wait_for_selector("#application .conflict .problem")
    assert "Forbidden" in refused.inner_text() and "pipeline:write" in refused.inner_text()
    assert page.locator("#move").count() == 0, "no buttons once the key is known to be refused"
    with server.api() as api:
        after = api.get(f"/v1/applications/{application['id']}").json()
    assert after["stage"]["id"] == application["stage"]["id"]


def test_a_revoked_key_returns_to_sign_in(page: Any, server: Server, sign_in) -> None:
    key_id, secret = server.revocable_key
    sign_in(secret, "#/jobs")
    assert page.locator("#jobs tbody tr").count() >= 1
    (revoked,) = server.cli(["keys", "revoke", key_id])
    assert revoked.startswith(f"revoked {key_id}")
    page.click("nav a[data-nav=roles]")
    page.wait_for_selector("#signin", state="visible")
    assert "unknown or revoked" in page.inner_text("#signin-problem")
    assert page.evaluate("sessionStorage.getItem('rolefit.apiKey')") is None
    assert not page.is_visible("#nav") and page.inner_text("main") == ""


def test_readable_at_375_px(page: Any, server: Server, sign_in) -> None:
    page.set_viewport_size({"width": 375, "height": 812})
    with server.api() as api:
        top = api.get("/v1/roles/tpm/matches", params={"limit": 1}).json()["data"][0]
    job = demo_job(server)
    routes = ["#/roles/tpm", f"#/candidates/{top['candidate']['id']}", f"#/jobs/{job['id']}"]
    sign_in(route=routes[0])
    for route in routes:
        open_view(page, route)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, f"{route} is {width} px wide at 375"
    screenshot(page, "job-375")
