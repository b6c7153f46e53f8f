#!/usr/bin/env bash
# Render a sample client report: a 30-day demo history (scripts/report_demo_history.py: three hosts,
# findings fixed by a play and by `diagnose --fix`, weekly maintenance, an outage) in a fresh database,
# then the report as HTML, Markdown and JSON, and (when Chromium is installed) a PDF and a PNG screenshot.
# Nothing outside OUT_DIR is written; the real history database is not touched. Prints the files made.
# Usage: scripts/report_sample.sh [OUT_DIR]        (default: ./report-sample)
set -euo pipefail
out=${1:-report-sample}
mkdir -p "$out"
out=$(cd "$out" && pwd)
here=$(cd "$(dirname "$0")/.." && pwd)
export PYTHONPATH="$here/src${PYTHONPATH:+:$PYTHONPATH}" RMMCTL_DB="$out/history.db"
rm -f "$RMMCTL_DB"
python3 "$here/scripts/report_demo_history.py" "$RMMCTL_DB" >/dev/null
report() { python3 -m rmmctl report --period 30d --msp-name "Example MSP" "$@"; }
report --out "$out/report.html"
report --out "$out/report.md"
report --out "$out/report.json"
echo "$out/report.html"
echo "$out/report.md"
echo "$out/report.json"
if command -v chromium >/dev/null || command -v chromium-browser >/dev/null || command -v google-chrome >/dev/null; then
  report --out "$out/report.pdf"
  python3 -c 'import sys; from pathlib import Path; from rmmctl.pdf import find_chromium, render
render(Path(sys.argv[1]), png=Path(sys.argv[2]), chromium=find_chromium(), window=(1200, 4200))' \
    "$out/report.html" "$out/report.png"
  echo "$out/report.pdf"
  echo "$out/report.png"
else
  echo "no Chromium: skipped the PDF and the screenshot (apt-get install chromium)" >&2
fi
