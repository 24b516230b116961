"""Metric names and label matchers in PromQL, against what a /metrics page exports.

Not a PromQL parser: a tokenizer that knows which words are functions, aggregations and
keywords, enough for alert expressions to be checked name by name.
"""
import re

AGGREGATIONS = {"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count",
                "count_values", "bottomk", "topk", "quantile", "limitk", "limit_ratio"}
KEYWORDS = {"and", "or", "unless", "offset", "bool", "atan2", "inf", "nan"}
LABEL_LISTS = {"by", "without", "on", "ignoring", "group_left", "group_right"}

TOKEN = re.compile(r"""
    (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<braces>\{[^}]*\})
  | (?P<brackets>\[[^\]]*\])
  | (?P<number>\d[\w.]*)
  | (?P<name>[A-Za-z_:][\w:]*)
  | (?P<open>\()
  | (?P<other>\S)
""", re.X)
MATCHER = re.compile(r'\s*([A-Za-z_]\w*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*,?')


def selectors(expr):
    """[(metric name, [(label, op, value)])] for each series selector in `expr`."""
    tokens = [(m.lastgroup, m.group()) for m in TOKEN.finditer(expr)]
    found, i = [], 0
    while i < len(tokens):
        kind, text = tokens[i]
        following = tokens[i + 1] if i + 1 < len(tokens) else (None, None)
        if kind == "name" and text in LABEL_LISTS and following[0] == "open":
            while tokens[i][1] != ")":  # skip the label list: by (namespace, pod)
                i += 1
        elif kind == "name" and following[0] == "open":
            pass  # a function call: rate(...)
        elif kind == "name" and text not in AGGREGATIONS | KEYWORDS:
            matchers = following[1] if following[0] == "braces" else "{}"
            found.append((text, MATCHER.findall(matchers[1:-1])))
        elif kind == "braces":
            previous = tokens[i - 1] if i > 0 else (None, None)
            if previous[0] != "name" or previous[1] in AGGREGATIONS | KEYWORDS:
                found.append((None, MATCHER.findall(text[1:-1])))  # {__name__=...}
        i += 1
    return found


def parse_exposition(text):
    """{metric name: {label: {values}}} from Prometheus text format; names from HELP and
    TYPE lines too (a family with no sample yet), with a histogram's or summary's series."""
    metrics = {}
    for line in text.splitlines():
        meta = re.match(r"# (HELP|TYPE) (\S+)(?: (\S+))?", line)
        if meta:
            names = [meta.group(2)]
            if meta.group(1) == "TYPE" and meta.group(3) in ("histogram", "summary"):
                names += [meta.group(2) + s for s in ("_bucket", "_sum", "_count")]
            for name in names:
                metrics.setdefault(name, {})
            continue
        sample = re.match(r"([A-Za-z_:][\w:]*)(\{[^}]*\})?\s", line)
        if sample:
            labels = metrics.setdefault(sample.group(1), {})
            for label, _, value in MATCHER.findall((sample.group(2) or "{}")[1:-1]):
                labels.setdefault(label, set()).add(value)
    return metrics


# Labels every scraped series carries besides its own: the target's, added by Prometheus and
# by the Prometheus Operator's relabelling of a ServiceMonitor's endpoints.
TARGET_LABELS = {"job", "instance", "namespace", "pod", "service", "endpoint", "container"}


def unknown_series(expr, exported):
    """Problems with `expr`'s selectors: names not exported, labels not on that metric,
    `label="value"` values the metric never has."""
    problems = []
    for name, matchers in selectors(expr):
        if name is None:
            problems.append(f"a selector without a metric name: {matchers}")
            continue
        if name not in exported:
            problems.append(f"{name} is not exported by quenchd (it exports "
                            f"{', '.join(sorted(exported))})")
            continue
        labels = exported[name]
        for label, op, value in matchers:
            if label in TARGET_LABELS:
                continue
            if label not in labels:
                problems.append(f"{name} has no label {label} (it has {sorted(labels)})")
            elif op == "=" and value not in labels[label]:
                problems.append(f'{name}{{{label}="{value}"}} never exists (values: '
                                f"{sorted(labels[label])})")
    return problems
