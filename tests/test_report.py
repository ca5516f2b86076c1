"""report.html and report.md: overview figures, the funnel's reasons, % beside %, recipe and versions."""

import re

from gptkit.pipeline.report import FunnelStep, Report, StageRecord, write_report


def test_report_shows_overview_funnel_reasons_percent_recipe_versions(tmp_path):
    report = Report(
        title="gptkit run: t",
        stages=[StageRecord("crawl", "ran", 3.1, {"fetched": 759}, 1.5),
                StageRecord("train", "ran", 136.0, {"step": 600}, 262.4)],
        funnel=[FunnelStep("pages fetched", 759, "disallowed by robots.txt 1"),
                FunnelStep("documents extracted", 760, "+1: the pages of sample.warc.gz, read besides the crawl"),
                FunnelStep("after language", 500, "other_language 250, low_score 10")],
        loss_curve=[(1, 9.0, None), (10, 6.0, 6.5)],
        eval_rows=[{"task": "lambada", "shots": 0, "metric": "acc", "value": 12.5, "stderr": 1.25, "percent": True,
                    "reference": "GPT-2 117M: 45.99 %"}],
        overview=[("total time", "2 min 28 s over 10 stages"), ("eval lambada", "300 of 5,153 documents (eval.limit)")],
        recipe='[train]\nsteps = 600\n# --set train.steps=10',
        versions={"gptkit": "0.1.0", "torch": "2.13.0"},
    )  # fmt: skip
    write_report(report, tmp_path)
    html = (tmp_path / "report.html").read_text()
    md = (tmp_path / "report.md").read_text()
    for text in (html, md):
        for expected in ("2 min 28 s over 10 stages", "300 of 5,153 documents (eval.limit)", "disallowed by robots.txt 1",
                         "+1: the pages of sample.warc.gz", "other_language 250", "12.5 %", "1.25 %",
                         "GPT-2 117M: 45.99 %", "# --set train.steps=10", "torch"):  # fmt: skip
            assert expected in text, expected
    assert re.search(r"<td>documents extracted</td><td>760</td><td>\+1: the pages", html)
    assert re.search(r"<td>train</td><td>ran</td><td>136.0</td><td>262.4</td>", html)  # CPU seconds beside wall
    assert html.count("data:image/png;base64,") == 2  # funnel and loss plots embedded
