"""Puts poison records on a stream with boto3, the way real producers go wrong: for each given
series, one record missing a feature (the model must refuse it) and one line of CSV, exactly as
the tutorial's writer sent its rows (not JSON at all). Each carries the marker "poison-<n>" so a
checker can find it in the failure destination.

Usage: put_poison.py ENDPOINT_URL STREAM SERIES [SERIES ...]
Credentials come from the default chain; nothing is hard-coded.
Prints one JSON line: {"poison": [marker, ...], "failed": N}.
"""
import json
import sys

import boto3

endpoint, stream, series = sys.argv[1], sys.argv[2], sys.argv[3:]
client = boto3.client("kinesis", endpoint_url=endpoint, region_name="us-east-1")

entries, markers = [], []
for s in series:
    n = len(markers)
    missing = {"feature_1": 1.0, "feature_2": 2.0, "feature_3": 3.0, "feature_4": 4.0,
               "series": s, "marker": f"poison-{n}"}
    entries.append({"Data": json.dumps(missing).encode(), "PartitionKey": s})
    markers.append(f"poison-{n}")
    csv_line = f"2020-01-01 00:00:00,13.5,2.0,poison-{n + 1}"
    entries.append({"Data": csv_line.encode(), "PartitionKey": s})
    markers.append(f"poison-{n + 1}")
answer = client.put_records(StreamName=stream, Records=entries)
print(json.dumps({"poison": markers, "failed": answer["FailedRecordCount"]}))
