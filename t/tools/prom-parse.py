"""Reads the Prometheus text format on stdin with Prometheus's own Python
parser (prometheus_client, from t/requirements.txt) and prints every sample
as JSON: [{"name", "labels", "value", "type"}]. A document the parser
refuses exits 1 with its message."""
import json
import sys

from prometheus_client.parser import text_string_to_metric_families

try:
    out = []
    for family in text_string_to_metric_families(sys.stdin.read()):
        for s in family.samples:
            out.append({"name": s.name, "labels": s.labels, "value": s.value, "type": family.type,
                        "family": family.name, "help": family.documentation})
except Exception as e:  # the parser's own words, one line
    print("prom-parse: %s" % e, file=sys.stderr)
    sys.exit(1)
json.dump(out, sys.stdout)
