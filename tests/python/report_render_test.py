#!/usr/bin/env python3
"""report.html as a browser shows it: a real job through quenchd and a worker, its page fetched
from /jobs/<id>/report, opened in headless Chromium. The DOM Chromium builds must hold the
summary table (a row per output) and the chart (a bar per layer of report.json), and the
screenshot must show the chart's bars in their projection colours. The screenshot is kept.

  report_render_test.py --bin-dir build/bin --artifacts-dir build/test-artifacts
"""
import argparse
import html.parser
import json
import pathlib
import shutil
import subprocess
import sys
import tempfile
import unittest
import urllib.request

import daemons

ARGS = None
# The chart's colours of Llama's projections (core/report/layer_error_chart.cc).
PROJECTION_COLOURS = {"q_proj": (0x00, 0x72, 0xB2), "v_proj": (0x00, 0x9E, 0x73),
                      "gate_proj": (0xE6, 0x9F, 0x00), "down_proj": (0xCC, 0x79, 0xA7)}


def find_chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    raise RuntimeError("headless Chromium is needed: apt-get install chromium")


class DomCounter(html.parser.HTMLParser):
    """Counts what the test looks for in Chromium's serialized DOM."""

    def __init__(self):
        super().__init__()
        self.stack = []
        self.summary_rows = []  # each row's cell texts
        self.bars = {}  # chart id -> number of rect.bar
        self.recipe_text = ""
        self._chart = None
        self._cell = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.stack.append((tag, attrs.get("id")))
        ids = [i for _, i in self.stack if i]
        if tag == "div" and attrs.get("id", "").endswith("-chart"):
            self._chart = attrs["id"]
            self.bars.setdefault(self._chart, 0)
        if tag == "rect" and attrs.get("class") == "bar" and self._chart:
            self.bars[self._chart] += 1
        if "summary" in ids and tag == "tr":
            self.summary_rows.append([])
        if "summary" in ids and tag in ("td", "th"):
            self._cell = ""

    def handle_endtag(self, tag):
        while self.stack:
            popped, popped_id = self.stack.pop()
            if popped_id and popped_id == self._chart:
                self._chart = None
            if popped == tag:
                break
        if tag in ("td", "th") and self._cell is not None and self.summary_rows:
            self.summary_rows[-1].append(self._cell.strip())
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data
        if any(i == "recipe" for _, i in self.stack):
            self.recipe_text += data


class ReportRenderTest(unittest.TestCase):
    def test_chromium_renders_the_summary_and_the_chart(self):
        chromium = find_chromium()
        service = daemons.Service(ARGS.bin_dir)
        self.addCleanup(service.close)
        fixture = service.fixture
        # A GGUF job (two solves: two charts, and a packed output in the summary).
        work = pathlib.Path(tempfile.mkdtemp(prefix="quench-report-render-"))
        done = subprocess.run(
            [str(ARGS.bin_dir / "quench"), "submit", "--server", service.server, "--token-file",
             str(service.token_file), "--model", str(fixture.model), "--preset",
             "gptq-gguf-q4_0", "--calib", str(fixture.calib), "--eval", str(fixture.eval),
             "--shards", "2", "--wait", "--out", str(work / "artifacts"), "--json"],
            capture_output=True, text=True, timeout=600)
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
        job = json.loads(done.stdout.strip().splitlines()[-1])
        report = json.loads((work / "artifacts" / "report.json").read_text())

        request = urllib.request.Request(
            f"http://127.0.0.1:{service.http_port}/jobs/{job['job_id']}/report",
            headers={"Authorization": f"Bearer {service.token}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            self.assertEqual(response.headers.get_content_type(), "text/html")
            page = response.read()
        self.assertEqual(page, (work / "artifacts" / "report.html").read_bytes())
        page_path = work / "report.html"
        page_path.write_bytes(page)

        browser = [chromium, "--headless", "--no-sandbox", "--disable-gpu",
                   "--hide-scrollbars", f"--user-data-dir={work / 'profile'}",
                   "--window-size=1280,1400"]
        dom = subprocess.run([*browser, "--dump-dom", page_path.as_uri()], capture_output=True,
                             text=True, timeout=120)
        self.assertEqual(dom.returncode, 0, dom.stderr[-2000:])
        counter = DomCounter()
        counter.feed(dom.stdout)

        rows = counter.summary_rows
        self.assertGreaterEqual(len(rows), 3, dom.stdout[:3000])
        self.assertEqual(rows[0][:4], ["Model", "Perplexity", "Δ perplexity",
                                       "KL divergence (nats/token)"])
        names = [row[0].split()[0] for row in rows[1:]]
        self.assertEqual(names, ["original"] + [o["name"] for o in report["outputs"]])
        evaluation = report["gguf_evaluation" if "gguf_evaluation" in report else "evaluation"]
        gguf_row = rows[2 + [o["name"] for o in report["outputs"]].index("gguf")]
        self.assertEqual(gguf_row[1], f"{evaluation['perplexity']:.4f}")
        self.assertEqual(counter.bars.get("layers-chart"), len(report["layers"]))
        if "gguf_layers" in report:
            self.assertEqual(counter.bars.get("gguf-layers-chart"), len(report["gguf_layers"]))
        self.assertIn("method: gptq", counter.recipe_text)

        screenshot = work / "report.png"
        shot = subprocess.run([*browser, f"--screenshot={screenshot}", page_path.as_uri()],
                              capture_output=True, text=True, timeout=120)
        self.assertEqual(shot.returncode, 0, shot.stderr[-2000:])
        ARGS.artifacts_dir.mkdir(parents=True, exist_ok=True)
        kept = ARGS.artifacts_dir / "report.png"
        shutil.copyfile(screenshot, kept)
        shutil.copyfile(page_path, ARGS.artifacts_dir / "report.html")
        print(f"report_render_test: screenshot in {kept}", file=sys.stderr)

        from PIL import Image
        image = Image.open(screenshot).convert("RGB")
        self.assertEqual(image.size, (1280, 1400))
        counts = {}
        for colour, count in ((c, n) for n, c in image.getcolors(1 << 24)):
            counts[colour] = count
        drawn = {layer["name"].rsplit(".", 1)[-1] for layer in report["layers"]}
        self.assertTrue(drawn & PROJECTION_COLOURS.keys(), drawn)
        for projection, colour in PROJECTION_COLOURS.items():
            if projection not in drawn:
                continue
            # Bars of this projection are drawn: well over the legend's 10×10 swatch.
            self.assertGreater(counts.get(colour, 0), 150,
                               f"{projection} bars ({colour}) are not on the screenshot")
        white = counts.get((255, 255, 255), 0)
        self.assertLess(white, 0.95 * image.size[0] * image.size[1], "the page is blank")


def main():
    global ARGS
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin-dir", type=pathlib.Path, required=True)
    parser.add_argument("--artifacts-dir", type=pathlib.Path, required=True)
    ARGS, rest = parser.parse_known_args()
    ARGS.bin_dir = ARGS.bin_dir.resolve()
    unittest.main(argv=[sys.argv[0], *rest], verbosity=2)


if __name__ == "__main__":
    main()
