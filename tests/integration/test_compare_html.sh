#!/usr/bin/env bash
# reqlens compare --html: one self-contained file that a real browser
# renders (headless Chromium: a screenshot that is not blank), and whose
# numbers, read back from the rendered DOM (ids and data-value attributes),
# are the JSON output's, to the last digit.
#
# Needs chromium (apt-get install chromium) but no root or agent, so it
# does not source lib.sh (which demands both); it keeps its conventions.
set -u -o pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$REPO" || exit 1
BIN=${AGENT_BIN:-./reqlens}
FIX=tests/fixtures/compare
PY=/usr/bin/python3
T=$(mktemp -d /tmp/reqlens-it.compare_html.XXXXXX)
chmod 755 "$T"

note() { printf '# %s\n' "$*" >&2; }
fail() {
	printf 'FAIL: %s\n' "$*" >&2
	exit 1
}
trap 'rc=$?; rm -rf "$T"; exit $rc' EXIT

[[ -x $BIN ]] || fail "$BIN is missing: run make"
CHROMIUM=$(command -v chromium || command -v chromium-browser) ||
	fail "chromium is not installed (apt-get install chromium)"

# chrome ARGS...: headless Chromium with nothing of the network or the user's profile.
chrome() {
	timeout -k 5 90 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-background-networking \
		--disable-component-update --disable-sync --no-first-run --user-data-dir="$T/profile" "$@" \
		2>>"$T/chromium.err"
}

"$BIN" compare $FIX/before.json $FIX/after.json --html "$T/report.html" --format json >"$T/cmp.json" 2>"$T/cmp.err" ||
	fail "compare --html: $(cat "$T/cmp.err")"
[[ -s $T/report.html ]] || fail "compare --html wrote nothing"

# Self-contained: no script, stylesheet, image or font from anywhere.
grep -qiE '<(script|link|img|iframe|object|embed)[^>]*(src|href)=|url\(|@import' "$T/report.html" &&
	fail "the report loads an external resource: $(grep -oiE '(src|href)=[^ >]*|url\([^)]*\)|@import[^;]*' "$T/report.html" | head -3)"

# ---- the screenshot: a page of text, tables and curves, not a blank one.
chrome --screenshot="$T/report.png" --window-size=1200,1600 "file://$T/report.html" >/dev/null ||
	fail "chromium --screenshot failed: $(tail -n 5 "$T/chromium.err")"
[[ -s $T/report.png ]] || fail "no screenshot: $(tail -n 5 "$T/chromium.err")"
colors=$($PY - "$T/report.png" <<'PY'
# Counts the distinct colours of an 8-bit RGB(A) PNG, with the standard library.
import struct, sys, zlib
data = open(sys.argv[1], 'rb').read()
assert data[:8] == b'\x89PNG\r\n\x1a\n', 'not a PNG'
pos, idat = 8, b''
while pos < len(data):
    n, kind = struct.unpack('>I4s', data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    if kind == b'IHDR':
        w, h, depth, ctype, _, _, interlace = struct.unpack('>IIBBBBB', body)
    elif kind == b'IDAT':
        idat += body
    pos += 12 + n
assert depth == 8 and ctype in (2, 6) and not interlace, 'unexpected PNG format'
bpp = 3 if ctype == 2 else 4
raw, stride, prev, colors = zlib.decompress(idat), w * bpp, bytearray(w * bpp), set()
for y in range(h):
    f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    for i in range(stride):
        a = line[i - bpp] if i >= bpp else 0
        b, c = prev[i], prev[i - bpp] if i >= bpp else 0
        if f == 1: line[i] = (line[i] + a) & 255
        elif f == 2: line[i] = (line[i] + b) & 255
        elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    for x in range(0, stride, bpp):
        colors.add(bytes(line[x:x + 3]))
    prev = line
print(len(colors))
PY
) || fail "cannot read the screenshot $T/report.png"
note "screenshot: $(stat -c %s "$T/report.png") bytes, $colors distinct colours"
(( colors > 50 )) || fail "the screenshot looks blank: only $colors distinct colours"

# ---- the DOM as the browser built it: every number equals the JSON's.
chrome --dump-dom "file://$T/report.html" >"$T/dom.html" || fail "chromium --dump-dom failed: $(tail -n 5 "$T/chromium.err")"
$PY - "$T/dom.html" "$T/cmp.json" <<'PY' || fail "the report's numbers differ from the JSON output"
import html.parser, json, sys

class Ids(html.parser.HTMLParser):
    """Every element with an id: its attributes and its text."""
    def __init__(self):
        super().__init__()
        self.el, self.stack = {}, []
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in ('br', 'img', 'meta', 'rect', 'circle', 'line', 'polyline'):
            if 'id' in a:
                self.el[a['id']] = dict(a, text='')
            return
        self.stack.append(a.get('id'))
        if 'id' in a:
            self.el[a['id']] = dict(a, text='')
    def handle_endtag(self, tag):
        if self.stack and tag not in ('br', 'img', 'meta', 'rect', 'circle', 'line', 'polyline'):
            self.stack.pop()
    def handle_data(self, data):
        for i in self.stack:
            if i:
                self.el[i]['text'] += data

p = Ids()
p.feed(open(sys.argv[1]).read())
d = json.load(open(sys.argv[2]))
el, bad = p.el, []

def same(what, got, want):
    # data-value holds the JSON's number text: compare as numbers, exactly.
    g = None if got in (None, 'null') else float(got)
    if g != want:
        bad.append('%s: page %r, JSON %r' % (what, got, want))

if d['verdict_rule'] not in el.get('rule', {}).get('text', ''):
    bad.append('the verdict rule is not on the page')
for i, s in enumerate(d['series']):
    v = el.get('s%d-verdict' % i)
    if not v or v.get('data-verdict') != s['verdict'] or v['text'].strip() != s['verdict']:
        bad.append('s%d verdict: page %r, JSON %r' % (i, v, s['verdict']))
    same('s%d requests before' % i, el['s%d-count-before' % i]['data-value'], s['before']['count'])
    same('s%d requests after' % i, el['s%d-count-after' % i]['data-value'], s['after']['count'])
    same('s%d Mann-Whitney p' % i, el['s%d-mw-p' % i]['data-value'], s['mann_whitney']['p'])
    for q in s['quantiles']:
        k = 's%d-%s' % (i, q['name'].replace('.', '_'))
        for side in ('before', 'after'):
            same(k + '-' + side, el[k + '-' + side]['data-value'], q[side]['value_s'])
            same(k + '-' + side + ' CI low', el[k + '-' + side]['data-ci-lo'], q[side]['ci95_s'][0])
            same(k + '-' + side + ' CI high', el[k + '-' + side]['data-ci-hi'], q[side]['ci95_s'][1])
            same(k + '-' + side + ' bucket low', el[k + '-' + side]['data-bucket-lo'], q[side]['bucket_s'][0])
            same(k + '-' + side + ' bucket high', el[k + '-' + side]['data-bucket-hi'], q[side]['bucket_s'][1])
        same(k + '-change', el[k + '-change']['data-value'], q['change_pct'])
        same(k + '-change CI low', el[k + '-change']['data-ci-lo'], q['change_pct_ci95'][0])
        same(k + '-change CI high', el[k + '-change']['data-ci-hi'], q['change_pct_ci95'][1])
    shown = [w.strip() for w in el.get('s%d-warnings' % i, {}).get('text', '').split('\u26a0') if w.strip()]
    if shown != [w['message'] for w in s['warnings']]:
        bad.append('s%d warnings: page %r, JSON %r' % (i, shown, [w['message'] for w in s['warnings']]))
shown = [w.strip() for w in el.get('warnings', {}).get('text', '').split('\u26a0') if w.strip()]
if shown != [w['message'] for w in d['warnings']]:
    bad.append('warnings: page %r, JSON %r' % (shown, [w['message'] for w in d['warnings']]))
if 'unmatched' not in el or 'http_route="/legacy"' not in el['unmatched']['text']:
    bad.append('the series only in before.json is not listed')
for b in bad:
    print('MISMATCH: ' + b, file=sys.stderr)
print('# checked %d series, %d quantiles each, against the JSON' % (len(d['series']), len(d['series'][0]['quantiles'])), file=sys.stderr)
sys.exit(1 if bad else 0)
PY

# Two CDF curves per series, drawn from the buckets.
n=$(grep -o '<polyline class="cdf-' "$T/dom.html" | wc -l)
[[ $n == 4 ]] || fail "expected 4 CDF polylines (2 series x before/after), got $n"

# KEEP_SCREENSHOT=FILE keeps the picture, to look at.
[[ -n ${KEEP_SCREENSHOT:-} ]] && cp "$T/report.png" "$KEEP_SCREENSHOT"
echo "ok: compare --html"
