"""Evaluation gate on real pages (as trafilatura gates its own evaluation): the vendored article
extraction benchmark (bench/data/, 181 pages with a human-marked body), scored by
bench/eval_real_pages.py through the batch code itself, HTML and whole-page text dumps. The run
fails below floors pinned just under the figures measured when they were set; raise them when
the cleaning gets better, never lower them to let a change pass."""

from __future__ import annotations

import pytest

from bench.eval_real_pages import groups, load_pages, score

# mode: {group: (F1 floor, measured)}; no page with a body may come out empty
FLOORS = {
    "html": {"all": (0.960, 0.964), "English": (0.960, 0.966), "other": (0.940, 0.947)},
    "text": {"all": (0.890, 0.896), "English": (0.900, 0.909), "other": (0.780, 0.789)},
}


@pytest.mark.parametrize("mode", sorted(FLOORS))
def test_real_pages_stay_above_the_floors(mode):
    results = score(load_pages(), mode)
    summary = groups(results)
    lost = [r.page.page_id[:16] for r in results if r.page.truth.strip() and not r.prediction.strip()]
    assert not lost, f"{mode}: pages with a body left empty: {lost}"
    for group, (floor, _measured) in FLOORS[mode].items():
        s = summary[group]
        assert s.f1 >= floor, f"{mode} {group}: F1 {s.f1:.3f} (P {s.precision:.3f}, R {s.recall:.3f}) below the floor {floor}"
