#!/usr/bin/python3
"""Reads what the agent serves, for the integration tests (used by lib.sh).

  promq.py value FILE NAME [MATCHER...]     the one sample NAME{MATCHERS}
  promq.py sum FILE NAME [MATCHER...]       the sum of the samples that match
  promq.py count FILE NAME [MATCHER...]     how many samples match (may be 0)
  promq.py series FILE NAME [MATCHER...]    the matching sample lines
  promq.py quantile FILE Q NAME [MATCHER...]
        Q-quantile of the histogram NAME (its NAME_bucket samples summed by
        le over the matching series), interpolated as Prometheus'
        histogram_quantile() does. Seconds.
  promq.py json-quantile FILE Q NAME [MATCHER...]
        the same from the /api/v1/histograms document (full-resolution
        kernel buckets, summed over the matching histograms). Seconds.
  promq.py labels FILE PREFIX LABEL [MATCHER...]
        the distinct values of LABEL (one a line, sorted; "<none>" for
        samples without it) among the samples whose name starts with PREFIX
  promq.py le-around FILE NAME X [MATCHER...]
        the two `le` edges (seconds) of NAME_bucket around X: "LO HI"
  promq.py median FILE                       median of the numbers, one a line
  promq.py prom-scalar FILE                  the value of a Prometheus API
        query answer that holds exactly one sample
  promq.py log-quantile FILE Q [FIELD]
        Q-quantile (nearest rank) of the nanosecond numbers in column FIELD
        (1-based, default 4: the HTTP fixtures' logs). Seconds. FIELD "A-B"
        takes column A minus column B, B as 0 where a line has no number
        there: "4-5" is the C HTTP fixtures' shortest duration their clock
        allows (DURATION_NS - SEND_NS, see tests/fixtures/rl_http_common.h).
  promq.py log-bucketed-quantile FILE Q [FIELD]
        the same numbers put in the kernel's log-linear buckets, read as
        json-quantile reads the agent's: what a perfect agent would report.

FILE is a /metrics scrape (Prometheus text format) or a JSON document; "-"
reads standard input. A MATCHER is label="value" (or label=value): a sample
matches when it has every label given with exactly that value; labels not
named are not looked at. Exit status: 0, 3 when nothing matches (nothing is
printed), 4 when "value" matches more than one sample, 2 on bad input.
"""
import json
import math
import re
import statistics
import sys

SAMPLE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\S+)?\s*$')
LABEL_RE = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?')


class Bad(Exception):
    pass


def unescape(s):
    return re.sub(r'\\(.)', lambda m: {'n': '\n', '\\': '\\', '"': '"'}.get(m.group(1), m.group(0)), s)


def parse_labels(text):
    labels, pos = {}, 0
    while pos < len(text):
        m = LABEL_RE.match(text, pos)
        if not m:
            raise Bad('cannot parse labels {%s}' % text)
        labels[m.group(1)] = unescape(m.group(2))
        pos = m.end()
    return labels


def parse_value(s):
    special = {'+Inf': math.inf, 'Inf': math.inf, '-Inf': -math.inf, 'NaN': math.nan}
    return special[s] if s in special else float(s)


def parse_text(text):
    """[(name, labels, value, line)] of a Prometheus text exposition."""
    out = []
    for line in text.splitlines():
        if not line.strip() or line.startswith('#'):
            continue
        m = SAMPLE_RE.match(line)
        if not m:
            raise Bad('cannot parse sample line: %r' % line)
        out.append((m.group(1), parse_labels(m.group(3) or ''), parse_value(m.group(4)), line))
    return out


def parse_matchers(args):
    want = {}
    for a in args:
        if '=' not in a:
            raise Bad('matcher %r is not label="value"' % a)
        k, v = a.split('=', 1)
        if len(v) >= 2 and v[0] == '"' and v[-1] == '"':
            v = v[1:-1]
        want[k.strip()] = v
    return want


def matches(labels, want):
    return all(k in labels and str(labels[k]) == v for k, v in want.items())


def fmt(v):
    if v == int(v) and abs(v) < 2**63:
        return str(int(v))
    return repr(v)


def read(path):
    if path == '-':
        return sys.stdin.read()
    with open(path, encoding='utf-8', errors='replace') as f:
        return f.read()


def select(path, name, matchers):
    want = parse_matchers(matchers)
    return [s for s in parse_text(read(path)) if s[0] == name and matches(s[1], want)]


def prom_quantile(q, buckets):
    """histogram_quantile() over [(le, cumulative count)]."""
    buckets = sorted(buckets)
    if not buckets or buckets[-1][0] != math.inf:
        raise Bad('no le="+Inf" bucket')
    total = buckets[-1][1]
    if total == 0:
        return math.nan
    rank = q * total
    prev_le, prev_count = 0.0, 0.0
    for i, (le, count) in enumerate(buckets):
        if count >= rank:
            if le == math.inf:
                return buckets[i - 1][0] if i else math.nan
            if i == 0 and le <= 0:
                return le
            return prev_le + (le - prev_le) * (rank - prev_count) / (count - prev_count)
        prev_le, prev_count = le, count
    return math.nan


def kernel_edges(sub_bits, max_msb):
    sub = 1 << sub_bits
    nfinite = (max_msb - sub_bits + 2) * sub

    def upper(b):
        octave, s = divmod(b, sub)
        return b + 1 if octave == 0 else (sub + s + 1) << (octave - 1)

    def lower(b):
        return upper(b - 1) if b else 0
    return upper, lower, nfinite


def json_quantile(doc, q, name, want):
    layout = doc.get('layout', {})
    if layout.get('unit', 'ns') != 'ns':
        raise Bad('layout unit %r, expected ns' % layout.get('unit'))
    sub_bits = int(layout.get('sub_bucket_bits', 5))
    nbuckets = int(layout.get('buckets', (41 - 5 + 2) * 32 + 1))
    max_msb = (nbuckets - 1) // (1 << sub_bits) + sub_bits - 2
    upper, lower, nfinite = kernel_edges(sub_bits, max_msb)
    counts = {}
    found = False
    for h in doc.get('histograms', []):
        if h.get('name') != name or not matches(h.get('labels', {}), want):
            continue
        found = True
        for idx, n in h.get('buckets', []):
            counts[int(idx)] = counts.get(int(idx), 0) + int(n)
    if not found:
        return None
    total = sum(counts.values())
    if total == 0:
        return math.nan
    rank = q * total
    cum = 0
    for b in sorted(counts):
        n = counts[b]
        if cum + n >= rank and n:
            if b >= nfinite:
                return lower(b) / 1e9
            lo, hi = lower(b), upper(b)
            return (lo + (hi - lo) * (rank - cum) / n) / 1e9
        cum += n
    return math.nan


def kernel_bucket(ns, sub_bits=5):
    """rl_hist_bucket() of include/reqlens/hist.h: the bucket (lower, upper] of ns."""
    sub = 1 << sub_bits
    x = ns - 1 if ns else 0
    if x < sub:
        return x
    msb = x.bit_length() - 1
    return (msb - sub_bits + 1) * sub + (x >> (msb - sub_bits)) - sub


def log_values(path, field):
    """The numbers of column field (1-based) of each line, sorted; field may
    be "A-B": column A minus column B (0 when B is missing or not a number,
    as in the logs of the fixtures that do not time their sends)."""
    a, _, b = str(field).partition('-')
    a, b = int(a), int(b) if b else 0
    vals = []
    for line in read(path).splitlines():
        parts = line.split()
        if len(parts) >= a:
            v = int(parts[a - 1])
            if b and len(parts) >= b and parts[b - 1].isdigit():
                v -= int(parts[b - 1])
            vals.append(v)
    return sorted(vals)


def log_quantile(args, bucketed):
    if len(args) < 2:
        raise Bad('usage: log-quantile FILE Q [FIELD]')
    q = float(args[1])
    vals = log_values(args[0], args[2] if len(args) > 2 else 4)
    if not vals:
        return 3
    if not bucketed:
        print(repr(vals[max(1, math.ceil(q * len(vals))) - 1] / 1e9))
        return 0
    counts = {}
    for v in vals:
        b = kernel_bucket(v)
        counts[b] = counts.get(b, 0) + 1
    doc = {'layout': {'unit': 'ns', 'sub_bucket_bits': 5},
           'histograms': [{'name': 'log', 'labels': {}, 'buckets': sorted(counts.items())}]}
    print(repr(json_quantile(doc, q, 'log', {})))
    return 0


def match_log(args):
    slack_ns = 10000
    if args[:1] == ['--slack-us']:
        slack_ns = int(float(args[1]) * 1000)
        args = args[2:]
    if len(args) < 3:
        raise Bad('usage: match-log [--slack-us US] JSON LOG NAME [MATCHER...]')
    doc = json.loads(read(args[0]))
    want = parse_matchers(args[3:])
    upper, lower, _ = kernel_edges(5, 41)
    agent = []
    for h in doc.get('histograms', []):
        if h.get('name') == args[2] and matches(h.get('labels', {}), want):
            for idx, n in h.get('buckets', []):
                agent += [int(idx)] * int(n)
    agent.sort()
    # (duration, its last send's time): the end lies within that send.
    logged = []
    for line in read(args[1]).splitlines():
        parts = line.split()
        if len(parts) >= 4:
            send = int(parts[4]) if len(parts) > 4 and parts[4].isdigit() else 0
            logged.append((int(parts[3]), send))
    logged.sort()
    ok = len(agent) == len(logged)
    print('agent: %d values, log: %d values' % (len(agent), len(logged)))
    for i in range(max(len(agent), len(logged))):
        a = agent[i] if i < len(agent) else None
        v, send = logged[i] if i < len(logged) else (None, 0)
        b = kernel_bucket(v) if v is not None else None
        good = a is not None and b is not None and (
            abs(a - b) <= 1 or lower(a) - slack_ns <= v and v - send <= upper(a) + slack_ns)
        ok = ok and good
        print('%s agent %s  log %s' % (
            'ok ' if good else 'BAD',
            '(%.6f, %.6f] ms' % (lower(a) / 1e6, upper(a) / 1e6) if a is not None else '-',
            '-' if v is None else '%.6f ms' % (v / 1e6) if send <= slack_ns else
            '%.6f ms (%.6f ms in its last send)' % (v / 1e6, send / 1e6)))
    return 0 if ok else 1


def main(argv):
    if len(argv) < 2:
        raise Bad(__doc__)
    cmd, args = argv[1], argv[2:]
    if cmd in ('value', 'sum', 'count', 'series'):
        if len(args) < 2:
            raise Bad('usage: %s FILE NAME [MATCHER...]' % cmd)
        got = select(args[0], args[1], args[2:])
        if cmd == 'count':
            print(len(got))
            return 0
        if cmd == 'series':
            for s in got:
                print(s[3])
            return 0 if got else 3
        if not got:
            return 3
        if cmd == 'value' and len(got) > 1:
            sys.stderr.write('ambiguous: %d samples match:\n%s\n' % (len(got), '\n'.join(s[3] for s in got)))
            return 4
        print(fmt(sum(s[2] for s in got)))
        return 0
    if cmd == 'quantile':
        if len(args) < 3:
            raise Bad('usage: quantile FILE Q NAME [MATCHER...]')
        q = float(args[1])
        got = select(args[0], args[2] + '_bucket', args[3:])
        if not got:
            return 3
        by_le = {}
        for _, labels, v, _ in got:
            le = parse_value(labels['le'])
            by_le[le] = by_le.get(le, 0) + v
        print(repr(prom_quantile(q, list(by_le.items()))))
        return 0
    if cmd == 'json-quantile':
        if len(args) < 3:
            raise Bad('usage: json-quantile FILE Q NAME [MATCHER...]')
        doc = json.loads(read(args[0]))
        v = json_quantile(doc, float(args[1]), args[2], parse_matchers(args[3:]))
        if v is None:
            return 3
        print(repr(v))
        return 0
    if cmd == 'labels':
        if len(args) < 3:
            raise Bad('usage: labels FILE PREFIX LABEL [MATCHER...]')
        want = parse_matchers(args[3:])
        vals = {s[1].get(args[2], '<none>') for s in parse_text(read(args[0]))
                if s[0].startswith(args[1]) and matches(s[1], want)}
        for v in sorted(vals):
            print(v)
        return 0
    if cmd == 'le-around':
        if len(args) < 3:
            raise Bad('usage: le-around FILE NAME X [MATCHER...]')
        x = float(args[2])
        les = sorted({parse_value(s[1]['le']) for s in select(args[0], args[1] + '_bucket', args[3:])})
        lo = max([le for le in les if le < x], default=None)
        hi = min([le for le in les if le >= x], default=None)
        if lo is None or hi is None:
            return 3
        print(repr(lo), repr(hi))
        return 0
    if cmd == 'median':
        nums = [float(x) for x in read(args[0]).split()]
        if not nums:
            return 3
        print(repr(statistics.median(nums)))
        return 0
    if cmd == 'prom-scalar':
        doc = json.loads(read(args[0]))
        if doc.get('status') != 'success':
            raise Bad('query failed: %s' % json.dumps(doc))
        result = doc['data']['result']
        if doc['data']['resultType'] == 'scalar':
            print(result[1])
            return 0
        if len(result) != 1:
            return 3
        print(result[0]['value'][1])
        return 0
    if cmd == 'match-log':
        return match_log(args)
    if cmd in ('log-quantile', 'log-bucketed-quantile'):
        return log_quantile(args, cmd == 'log-bucketed-quantile')
    raise Bad('unknown command %r' % cmd)


if __name__ == '__main__':
    try:
        sys.exit(main(sys.argv))
    except (Bad, ValueError, KeyError, OSError) as e:
        sys.stderr.write('promq.py: %s\n' % e)
        sys.exit(2)
